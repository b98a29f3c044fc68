# C declarations of the storage core's public API (csrc/include/rmq/store.h, errors.h).
from libc.stdint cimport int32_t, int64_t, uint8_t


cdef extern from "rmq/errors.h" nogil:
    int RMQ_OK
    int RMQ_EINVAL
    int RMQ_ECORRUPT
    int RMQ_ETOOBIG
    int RMQ_ENOTFOUND
    int RMQ_ERANGE
    int RMQ_EREADONLY
    int RMQ_EDISKFULL
    int RMQ_ENOMEM
    int RMQ_ECLOSED
    int RMQ_ETIMEOUT
    int RMQ_EBUFSMALL
    int RMQ_ELOCKED
    int RMQ_EFAULT
    const char *rmq_strerror(int err)


cdef extern from "rmq/store.h" nogil:
    ctypedef struct rmq_buf_t:
        const void *ptr
        size_t len

    ctypedef struct rmq_store_t:
        pass

    int RMQ_FLUSH_ASYNC
    int RMQ_FLUSH_SYNC
    int RMQ_MAX_DELAY_LEVELS

    ctypedef struct rmq_store_config_t:
        int64_t mapped_file_size_commitlog
        int32_t cq_entries_per_file
        int32_t max_hash_slot_num
        int32_t max_index_num
        int32_t flush_disk_type
        int32_t flush_interval_commitlog_ms
        int32_t flush_commitlog_least_pages
        int32_t flush_commitlog_thorough_ms
        int32_t flush_interval_cq_ms
        int32_t flush_cq_least_pages
        int32_t flush_cq_thorough_ms
        int32_t sync_flush_timeout_ms
        int32_t max_message_size
        int32_t message_index_enable
        int32_t check_crc_on_recover
        int32_t disk_max_used_space_ratio
        int32_t disk_space_warning_level_ratio
        int32_t preallocate
        int32_t warm_mapped_file
        uint8_t store_host[16]
        int32_t store_host_v6
        int32_t store_host_port
        int32_t n_delay_levels
        int64_t delay_level_ms[64]

    void rmq_store_config_default(rmq_store_config_t *cfg)

    ctypedef struct rmq_recovery_report_t:
        int32_t clean_shutdown
        int64_t scan_from
        int64_t records_scanned
        int64_t max_phys_offset
        char truncated_segment[512]
        int64_t truncated_at
        int64_t bytes_truncated
        int64_t records_truncated
        int64_t cq_entries_truncated
        int64_t cq_entries_rebuilt
        int64_t index_entries_rebuilt
        int64_t index_entries_truncated
        double elapsed_ms
        char error[1280]

    int rmq_store_open(const char *root, const rmq_store_config_t *cfg, rmq_store_t **out,
                       rmq_recovery_report_t *report)
    int rmq_store_close(rmq_store_t *s)
    const char *rmq_store_last_error(rmq_store_t *s)

    ctypedef struct rmq_msg_t:
        rmq_buf_t topic
        int32_t queue_id
        int32_t flag
        int32_t sysflag
        int64_t born_timestamp
        uint8_t born_host[16]
        int32_t born_port
        int32_t reconsume_times
        int64_t prepared_transaction_offset
        rmq_buf_t body
        rmq_buf_t properties

    ctypedef struct rmq_put_result_t:
        int64_t phys_offset
        int32_t size
        int64_t queue_offset
        int64_t store_timestamp
        char msg_id[57]

    int rmq_store_put(rmq_store_t *s, const rmq_msg_t *msg, rmq_put_result_t *res)
    int rmq_store_put_batch(rmq_store_t *s, const rmq_msg_t *tmpl, rmq_buf_t batch,
                            rmq_buf_t extra_props, rmq_put_result_t *results, size_t max_results,
                            size_t *n_out)
    int rmq_store_append(rmq_store_t *s, const rmq_msg_t *msg, rmq_put_result_t *res)
    int rmq_store_append_batch(rmq_store_t *s, const rmq_msg_t *tmpl, rmq_buf_t batch,
                               rmq_buf_t extra_props, rmq_put_result_t *results,
                               size_t max_results, size_t *n_out)
    int rmq_store_wait_durable(rmq_store_t *s, int64_t end)

    ctypedef struct rmq_get_req_t:
        int64_t offset
        int32_t max_msgs
        int32_t max_bytes
        const int64_t *tag_codes
        size_t n_tag_codes

    ctypedef struct rmq_get_result_t:
        int32_t status
        int64_t next_begin_offset
        int64_t min_offset
        int64_t max_offset
        int32_t msg_count
        size_t bytes

    int rmq_store_get(rmq_store_t *s, rmq_buf_t topic, int32_t queue_id, const rmq_get_req_t *req,
                      void *out, size_t out_cap, rmq_get_result_t *res)
    int rmq_store_read_at(rmq_store_t *s, int64_t phys, void *out, size_t out_cap, int32_t *size)
    int rmq_store_read_raw(rmq_store_t *s, int64_t phys, void *out, size_t out_cap, size_t *n_out)
    int rmq_store_append_raw(rmq_store_t *s, int64_t phys, rmq_buf_t data)
    int64_t rmq_store_min_offset(rmq_store_t *s, rmq_buf_t topic, int32_t queue_id)
    int64_t rmq_store_max_offset(rmq_store_t *s, rmq_buf_t topic, int32_t queue_id)
    int64_t rmq_store_min_phys_offset(rmq_store_t *s)
    int64_t rmq_store_max_phys_offset(rmq_store_t *s)
    int64_t rmq_store_phys_of(rmq_store_t *s, rmq_buf_t topic, int32_t queue_id, int64_t offset)
    int64_t rmq_store_offset_by_time(rmq_store_t *s, rmq_buf_t topic, int32_t queue_id, int64_t ts)
    int64_t rmq_store_store_time_at(rmq_store_t *s, rmq_buf_t topic, int32_t queue_id,
                                    int64_t offset)
    int rmq_store_query_key(rmq_store_t *s, rmq_buf_t topic, rmq_buf_t key, int64_t begin_ts,
                            int64_t end_ts, int64_t *phys_out, size_t max, size_t *n_out)
    int rmq_store_flush(rmq_store_t *s)
    int rmq_store_delete_expired(rmq_store_t *s, int64_t now_ms, int64_t reserved_ms, int force,
                                 int max_files, int *deleted)

    ctypedef int (*rmq_queue_cb)(const char *topic, size_t topic_len, int32_t queue_id,
                                 int64_t min_offset, int64_t max_offset, void *arg) noexcept
    int rmq_store_foreach_queue(rmq_store_t *s, rmq_queue_cb cb, void *arg)
    int rmq_store_delete_topic(rmq_store_t *s, rmq_buf_t topic)

    ctypedef struct rmq_store_stats_t:
        int64_t put_count
        int64_t put_bytes
        int64_t get_count
        int64_t min_phys_offset
        int64_t max_phys_offset
        int64_t flushed_phys_offset
        int64_t commitlog_segments
        int64_t consume_queues
        int64_t index_files
        int64_t flush_errors
        int64_t flush_count
        int64_t flush_ns_total
        int64_t flush_ns_max
        int64_t dispatch_errors
        int64_t dispatch_lag_bytes
        int32_t write_error
        int64_t checkpoint_physic_ts
        int64_t checkpoint_logics_ts
        int64_t checkpoint_index_ts
        int64_t segments_precreated
        int64_t segments_made_on_roll

    void rmq_store_stats(rmq_store_t *s, rmq_store_stats_t *out)
    int32_t rmq_java_hash(const void *utf8, size_t len)
    int32_t rmq_crc32(const void *data, size_t len)
    const char rmq_crc32_provider[]


cdef extern from "rmq/record.h" nogil:
    ctypedef struct rmq_rec_t:
        int32_t total_size
        int32_t body_crc
        int32_t queue_id
        int32_t flag
        int64_t queue_offset
        int64_t phys_offset
        int32_t sysflag
        int64_t born_timestamp
        const uint8_t *born_host
        int32_t born_port
        int64_t store_timestamp
        const uint8_t *store_host
        int32_t store_port
        int32_t reconsume_times
        int64_t prepared_transaction_offset
        const uint8_t *body
        int32_t body_len
        const uint8_t *topic
        int32_t topic_len
        const uint8_t *props
        int32_t props_len

    int RMQ_SYSFLAG_BORNHOST_V6
    int RMQ_SYSFLAG_STOREHOST_V6
    int rmq_rec_parse(const uint8_t *src, size_t avail, int check_crc, rmq_rec_t *out)
