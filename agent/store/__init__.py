"""The managed store: content-addressed blobs, and blobs being received (verified piece by piece)."""
