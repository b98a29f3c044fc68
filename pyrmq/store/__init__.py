"""The message store: CommitLog, ConsumeQueues, IndexFiles and recovery (C core + facade)."""

from pyrmq.store.config import StoreConfig
from pyrmq.store.message_store import (
    BatchPutResult,
    GetMessageStatus,
    GetResult,
    MessageStore,
    PutResult,
    RecoveryReport,
)

__all__ = ["BatchPutResult", "GetMessageStatus", "GetResult", "MessageStore", "PutResult",
           "RecoveryReport", "StoreConfig"]
