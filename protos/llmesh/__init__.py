"""Generated protobuf and gRPC stubs of the llmesh API (from protos/llmesh/v1/*.proto)."""
