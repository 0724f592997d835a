"""Model references (common/refs.py): the JarvisCore table, Ollama's name rules, Hugging Face
refs, any OCI registry, and the mesh's own refs unchanged."""
import pytest

from llmesh.common.errors import InvalidArgument
from llmesh.common.names import ModelRef
from llmesh.common.refs import HubRef, looks_like_hub_ref, parse_hub_ref, parse_hub_target, parse_model_ref

# The JarvisCore document's table (its default: bare names on huggingface.co in "bartowski").
JARVIS = [
    ("mistral", "huggingface.co/bartowski/mistral"),
    ("bartowski/qwen", "huggingface.co/bartowski/qwen"),
    ("hf.co/meta/llama:v2", "huggingface.co/meta/llama:v2"),
    ("ollama.ai/library/mistral", "registry.ollama.ai/library/mistral:latest"),
    ("myhost.com/ns/model:v1", "myhost.com/ns/model:v1"),
]


@pytest.mark.parametrize("text,expected", JARVIS)
def test_jarviscore_table(text, expected):
    ref = parse_hub_ref(text, default_registry="huggingface.co", default_namespace="bartowski")
    # The Hub has no "latest" tag: a Hugging Face ref without a revision means the main branch.
    assert ref.canonical == (expected if ":" in expected.split("/")[-1] else expected + ":main")


@pytest.mark.parametrize("text,registry,namespace,model,tag", [
    ("mistral", "registry.ollama.ai", "library", "mistral", "latest"),
    ("mistral:7b", "registry.ollama.ai", "library", "mistral", "7b"),
    ("library/mistral:7b-instruct-q4_K_M", "registry.ollama.ai", "library", "mistral", "7b-instruct-q4_K_M"),
    ("ollama.com/library/mistral:7b", "registry.ollama.ai", "library", "mistral", "7b"),
    ("registry.ollama.ai/library/llama3.2:1b", "registry.ollama.ai", "library", "llama3.2", "1b"),
    ("https://registry.ollama.ai/jmorgan/m:x", "registry.ollama.ai", "jmorgan", "m", "x"),
    ("eva/mistral", "registry.ollama.ai", "eva", "mistral", "latest"),
    ("localhost:5000/ns/model:v1", "localhost:5000", "ns", "model", "v1"),
    ("127.0.0.1:5000/ns/model", "127.0.0.1:5000", "ns", "model", "latest"),
    ("ghcr.io/org/gguf-model:q4", "ghcr.io", "org", "gguf-model", "q4"),
])
def test_ollama_and_oci_names(text, registry, namespace, model, tag):
    ref = parse_hub_ref(text)
    assert (ref.kind, ref.registry, ref.namespace, ref.model, ref.tag) == ("oci", registry, namespace, model, tag)
    assert ref.ollama_manifest_parts == (registry, namespace, model, tag)


def test_default_registry_is_configurable():
    ref = parse_hub_ref("qwen:0.5b", default_registry="10.0.0.5:5000")
    assert str(ref) == "10.0.0.5:5000/library/qwen:0.5b"
    assert parse_hub_ref("qwen", default_registry="10.0.0.5:5000", insecure=True).base_url == "http://10.0.0.5:5000"
    assert parse_hub_ref("qwen").base_url == "https://registry.ollama.ai"


@pytest.mark.parametrize("text", [
    "", "  ", "x/y/z/z:8n", "example.com/mistral:7b+", "mistral:7b+Q4_0+", "a..b", "host.io/ns.dot/model",
    "mistral:", ":tag", "mistral:a:b", "m@sha256-1", "-mistral", "mistral:" + "t" * 129, "a" * 600,
    "registry.ollama.ai/", "x/y/",
])
def test_ollama_rejects(text):
    with pytest.raises(InvalidArgument) as e:
        parse_hub_ref(text)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("text,repo,revision,file", [
    ("hf.co/bartowski/Qwen2.5-7B-Instruct-GGUF", "bartowski/Qwen2.5-7B-Instruct-GGUF", "main", ""),
    ("huggingface.co/org/repo:v1.0", "org/repo", "v1.0", ""),
    ("https://huggingface.co/org/repo", "org/repo", "main", ""),
    ("hf.co/org/repo:0123456789abcdef0123456789abcdef01234567", "org/repo",
     "0123456789abcdef0123456789abcdef01234567", ""),
    ("hf.co/org/repo/model-Q4_K_M.gguf", "org/repo", "main", "model-Q4_K_M.gguf"),
    ("hf.co/org/repo:dev/sub/model.gguf", "org/repo", "dev", "sub/model.gguf"),
    ("hf.co/org/repo/model.gguf:dev", "org/repo", "dev", "model.gguf"),
])
def test_hugging_face_refs(text, repo, revision, file):
    ref = parse_hub_ref(text, include=["*.gguf"])
    assert (ref.kind, ref.repository, ref.tag, ref.file, ref.include) == ("hf", repo, revision, file, ("*.gguf",))
    again = parse_hub_ref(str(ref))  # the printed form parses back to the same thing
    assert (again.repository, again.tag, again.file) == (repo, revision, file)


@pytest.mark.parametrize("text", ["hf.co/org", "hf.co/org/", "hf.co/-org/repo", "hf.co/org/re--po",
                                  "hf.co/org/repo:../x", "hf.co/org/repo/../etc/passwd", "hf.co/org/re po"])
def test_hugging_face_rejects(text):
    with pytest.raises(InvalidArgument):
        parse_hub_ref(text)


@pytest.mark.parametrize("text,expected", [
    ("llama-ft", ModelRef("llama-ft")),
    ("llama-ft:3", ModelRef("llama-ft", 3)),
    ("org/llama-ft:v2b", ModelRef("org/llama-ft", label="v2b")),
    ("llama-ft@prod", ModelRef("llama-ft", alias="prod")),
    ("bartowski/qwen", ModelRef("bartowski/qwen")),
])
def test_mesh_refs_stay_the_meshs(text, expected):
    assert not looks_like_hub_ref(text)
    assert parse_model_ref(text) == expected


def test_a_host_makes_a_hub_ref_and_a_default_registry_makes_bare_names_hub_names():
    assert isinstance(parse_model_ref("hf.co/bartowski/qwen"), HubRef)
    assert isinstance(parse_model_ref("localhost:5000/ns/m:1"), HubRef)
    assert parse_model_ref("mistral", default_registry="ollama.com") == parse_hub_ref("mistral")
    with pytest.raises(InvalidArgument, match="at most one '/'"):
        parse_model_ref("a/b/c")  # neither a mesh name nor a registry host


@pytest.mark.parametrize("text, expected", [
    ("hf", "hf"), ("HF", "hf"), ("localhost:5000", "localhost:5000"), ("Registry.Example.COM", "registry.example.com"),
    ("ollama.com", "registry.ollama.ai"),
])
def test_what_hub_login_names(text, expected):
    assert parse_hub_target(text) == expected


@pytest.mark.parametrize("text", ["bad host!", "hf.co", "huggingface.co", ""])
def test_hub_login_rejects(text):
    with pytest.raises(InvalidArgument):
        parse_hub_target(text)
