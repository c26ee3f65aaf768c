"""Every model, imported in one place so Alembic and the app see the whole schema."""

from webapp.auth.models import ApiToken, User  # isort: skip  (users first: others point at them)
from webapp.audit.models import AuditEvent
from webapp.chat.models import Conversation, Message
from webapp.files.models import StoredFile

from webapp.faces.models import FaceAnalysis, FaceComparison, FaceEmbedding  # isort: skip  (they point at files)

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Conversation",
    "FaceAnalysis",
    "FaceComparison",
    "FaceEmbedding",
    "Message",
    "StoredFile",
    "User",
]
