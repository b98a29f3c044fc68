"""The message store: CommitLog, ConsumeQueues, IndexFiles and recovery (C core + facade)."""

from pyrmq.store.config import StoreConfig
from pyrmq.store.message_store import (
    GetMessageStatus,
    GetResult,
    MessageStore,
    PutResult,
    RecoveryReport,
)

__all__ = ["GetMessageStatus", "GetResult", "MessageStore", "PutResult", "RecoveryReport",
           "StoreConfig"]
