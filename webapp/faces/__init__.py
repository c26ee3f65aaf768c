"""Face engine for the Faces feature: detection, embeddings, verification, attributes.

Nothing here imports Flask: callers pass plain values (bytes, arrays, lists) and
get plain values back. DeepFace is imported lazily by :mod:`webapp.faces.engine`,
so importing this package stays cheap.
"""
