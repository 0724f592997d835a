/*
 * A stand-in for libnvidia-ml.so.1 (NVIDIA's NVML) for machines without an
 * NVIDIA driver. It exports the C functions that nvidia-ml-py (pynvml) looks up
 * through ctypes, with NVML's struct layouts and return codes, and serves the
 * fake GPUs described by the file named in $FAKE_NVML_CONFIG (read at init).
 *
 * Config: one "key value" per line. System keys come first; each "gpu" line
 * starts a new device and the keys after it describe that device:
 *   mode ok | driver_not_loaded     driver 550.54.15     cuda 12040
 *   legacy_only 0|1   (the versioned calls answer "Function Not Found")
 *   gpu
 *   name NVIDIA H100 80GB HBM3      uuid GPU-...         handle_error 15
 *   memory_total N  memory_used N  utilization N  temperature N  power_mw N
 * A numeric value written "error N" makes that query return NVML error N.
 *
 * Build: cc -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 -o libnvidia-ml.so.1 fake_nvml.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

/* Return codes, as in pynvml.py / nvml.h */
enum {
    NVML_SUCCESS = 0, NVML_ERROR_UNINITIALIZED = 1, NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3, NVML_ERROR_NO_PERMISSION = 4, NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7, NVML_ERROR_DRIVER_NOT_LOADED = 9, NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_FUNCTION_NOT_FOUND = 13, NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25, NVML_ERROR_UNKNOWN = 999
};

/* Struct layouts, as pynvml's ctypes classes define them */
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int version; unsigned long long total, reserved, free, used; } nvmlMemory_v2_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct { unsigned int version; unsigned int sensorType; int temperature; } nvmlTemperature_v1_t;

#define NVML_STRUCT_VERSION(type, ver) ((unsigned int)(sizeof(type) | ((ver) << 24U)))
#define nvmlMemory_v2 NVML_STRUCT_VERSION(nvmlMemory_v2_t, 2)          /* 0x02000028 */
#define nvmlTemperature_v1 NVML_STRUCT_VERSION(nvmlTemperature_v1_t, 1) /* 0x0100000C */
#define NVML_TEMPERATURE_GPU 0

typedef struct { int error; long long value; } field_t;

typedef struct fake_gpu {
    char name[96], uuid[96];
    int handle_error;
    field_t memory_total, memory_used, utilization, temperature, power_mw;
} fake_gpu;

typedef fake_gpu *nvmlDevice_t;

#define MAX_GPUS 16
static fake_gpu gpus[MAX_GPUS];
static unsigned int gpu_count;
static int init_refcount, init_calls, legacy_only;
static int init_error;
static char driver_version[80];
static field_t cuda_version;

static char *trim(char *text) {
    char *end;
    while (*text == ' ' || *text == '\t') text++;
    end = text + strlen(text);
    while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ')) *--end = '\0';
    return text;
}

static field_t parse_field(const char *value) {
    field_t field = {0, 0};
    if (strncmp(value, "error ", 6) == 0) field.error = atoi(value + 6);
    else field.value = atoll(value);
    return field;
}

static void set_gpu_key(fake_gpu *gpu, const char *key, const char *value) {
    if (!strcmp(key, "name")) snprintf(gpu->name, sizeof gpu->name, "%s", value);
    else if (!strcmp(key, "uuid")) snprintf(gpu->uuid, sizeof gpu->uuid, "%s", value);
    else if (!strcmp(key, "handle_error")) gpu->handle_error = atoi(value);
    else if (!strcmp(key, "memory_total")) gpu->memory_total = parse_field(value);
    else if (!strcmp(key, "memory_used")) gpu->memory_used = parse_field(value);
    else if (!strcmp(key, "utilization")) gpu->utilization = parse_field(value);
    else if (!strcmp(key, "temperature")) gpu->temperature = parse_field(value);
    else if (!strcmp(key, "power_mw")) gpu->power_mw = parse_field(value);
    else fprintf(stderr, "fake_nvml: unknown gpu key '%s'\n", key);
}

static void set_system_key(const char *key, const char *value) {
    if (!strcmp(key, "mode"))
        init_error = strcmp(value, "driver_not_loaded") ? NVML_SUCCESS : NVML_ERROR_DRIVER_NOT_LOADED;
    else if (!strcmp(key, "driver")) snprintf(driver_version, sizeof driver_version, "%s", value);
    else if (!strcmp(key, "cuda")) cuda_version = parse_field(value);
    else if (!strcmp(key, "legacy_only")) legacy_only = atoi(value);
    else fprintf(stderr, "fake_nvml: unknown key '%s'\n", key);
}

/* Re-read at every init, so a test can change the machine between inits. */
static int load_config(void) {
    const char *path = getenv("FAKE_NVML_CONFIG");
    char line[512];
    FILE *file = path ? fopen(path, "r") : NULL;
    if (!file) {
        fprintf(stderr, "fake_nvml: cannot read FAKE_NVML_CONFIG=%s\n", path ? path : "(unset)");
        return NVML_ERROR_UNKNOWN;
    }
    memset(gpus, 0, sizeof gpus);
    gpu_count = 0; init_error = NVML_SUCCESS; legacy_only = 0;
    driver_version[0] = '\0'; cuda_version.error = 0; cuda_version.value = 0;
    while (fgets(line, sizeof line, file)) {
        char *key = trim(line), *value = key;
        if (!*key || *key == '#') continue;
        while (*value && *value != ' ') value++;
        if (*value) *value++ = '\0';
        value = trim(value);
        if (!strcmp(key, "gpu")) {
            if (gpu_count < MAX_GPUS) gpu_count++;
        } else if (gpu_count) set_gpu_key(&gpus[gpu_count - 1], key, value);
        else set_system_key(key, value);
    }
    fclose(file);
    return init_error;
}

/* ---- lifecycle ---- */

EXPORT int nvmlInitWithFlags(unsigned int flags) {
    int result;
    (void)flags;
    init_calls++;
    result = load_config();
    if (result == NVML_SUCCESS) init_refcount++;
    return result;
}

EXPORT int nvmlInit_v2(void) { return nvmlInitWithFlags(0); }

EXPORT int nvmlShutdown(void) {
    if (init_refcount == 0) return NVML_ERROR_UNINITIALIZED;
    init_refcount--;
    return NVML_SUCCESS;
}

EXPORT const char *nvmlErrorString(int result) {
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument version mismatch";
    default: return "Unknown Error";
    }
}

/* Test hooks (not NVML): how often init ran and how many inits are still open. */
EXPORT int fake_nvml_init_calls(void) { return init_calls; }
EXPORT int fake_nvml_refcount(void) { return init_refcount; }

/* ---- system ---- */

static int copy_string(char *out, unsigned int length, const char *value) {
    if (!out) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(value) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(out, value);
    return NVML_SUCCESS;
}

EXPORT int nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    if (!init_refcount) return NVML_ERROR_UNINITIALIZED;
    return copy_string(version, length, driver_version);
}

EXPORT int nvmlSystemGetCudaDriverVersion(int *version) {
    if (!version) return NVML_ERROR_INVALID_ARGUMENT;
    if (cuda_version.error) return cuda_version.error;
    *version = (int)cuda_version.value;
    return NVML_SUCCESS;
}

EXPORT int nvmlSystemGetCudaDriverVersion_v2(int *version) { return nvmlSystemGetCudaDriverVersion(version); }

/* ---- devices ---- */

EXPORT int nvmlDeviceGetCount_v2(unsigned int *count) {
    if (!init_refcount) return NVML_ERROR_UNINITIALIZED;
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    *count = gpu_count;
    return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    if (!init_refcount) return NVML_ERROR_UNINITIALIZED;
    if (!device || index >= gpu_count) return NVML_ERROR_INVALID_ARGUMENT;
    if (gpus[index].handle_error) return gpus[index].handle_error;
    *device = &gpus[index];
    return NVML_SUCCESS;
}

/* Every device call checks init and the handle, as real NVML does. */
static int check_device(nvmlDevice_t device, const void *out) {
    if (!init_refcount) return NVML_ERROR_UNINITIALIZED;
    if (!out || device < gpus || device >= gpus + gpu_count) return NVML_ERROR_INVALID_ARGUMENT;
    return NVML_SUCCESS;
}

#define CHECK(device, out) do { int check_ = check_device(device, out); if (check_) return check_; } while (0)
#define FIELD_ERROR(field) do { if ((field).error) return (field).error; } while (0)

EXPORT int nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    CHECK(device, name);
    return copy_string(name, length, device->name);
}

EXPORT int nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    CHECK(device, uuid);
    return copy_string(uuid, length, device->uuid);
}

static int memory_values(nvmlDevice_t device, unsigned long long *total, unsigned long long *used) {
    FIELD_ERROR(device->memory_total);
    FIELD_ERROR(device->memory_used);
    *total = (unsigned long long)device->memory_total.value;
    *used = (unsigned long long)device->memory_used.value;
    return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    unsigned long long total, used;
    int result;
    CHECK(device, memory);
    if ((result = memory_values(device, &total, &used))) return result;
    memory->total = total; memory->used = used; memory->free = total - used;
    return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
    unsigned long long total, used;
    int result;
    CHECK(device, memory);
    if (legacy_only) return NVML_ERROR_FUNCTION_NOT_FOUND;
    if (memory->version != nvmlMemory_v2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if ((result = memory_values(device, &total, &used))) return result;
    memory->total = total; memory->reserved = 0; memory->used = used; memory->free = total - used;
    return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization) {
    CHECK(device, utilization);
    FIELD_ERROR(device->utilization);
    utilization->gpu = (unsigned int)device->utilization.value;
    utilization->memory = 0;
    return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetTemperature(nvmlDevice_t device, unsigned int sensor, unsigned int *temperature) {
    CHECK(device, temperature);
    if (sensor != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
    FIELD_ERROR(device->temperature);
    *temperature = (unsigned int)device->temperature.value;
    return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_v1_t *temperature) {
    CHECK(device, temperature);
    if (legacy_only) return NVML_ERROR_FUNCTION_NOT_FOUND;
    if (temperature->version != nvmlTemperature_v1) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if (temperature->sensorType != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
    FIELD_ERROR(device->temperature);
    temperature->temperature = (int)device->temperature.value;
    return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
    CHECK(device, power);
    FIELD_ERROR(device->power_mw);
    *power = (unsigned int)device->power_mw.value;
    return NVML_SUCCESS;
}
