"""The llmesh agent: runs on each machine and reports to the coordinator.

runtime.py builds the parts and passes each what it uses: inventory/ (what this host holds),
store/ (received blobs), transfer/ (agent-to-agent pulls), convert/ (GGUF conversion), serving/
(llama.cpp and Ollama), plus hardware, identity and credentials. testing.py holds the test
harness's fault hooks, which production agents never have."""
