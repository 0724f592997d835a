"""Conversion on the agent that holds the model: safetensors -> GGUF (model), PEFT LoRA -> GGUF
LoRA (lora), both written by one GGUF writer (gguf_writer), K-quants through llama.cpp's
quantizer (quantize), the tokenizer (vocab), checkpoints (checkpoint), and the conversion jobs
the coordinator sends (jobs)."""
