"""The Bootstrap and Admin APIs: the mesh CA, joining, certificates, users, tokens, audit."""
