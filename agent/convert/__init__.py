"""Conversion on the agent that holds the model: safetensors -> GGUF, PEFT LoRA -> GGUF LoRA,
K-quants through llama.cpp's quantizer."""
