/* Minimal declarations of real libraries whose headers are not installed
 * here (libcurl, LMDB, libmosquitto).  Names and signatures follow the
 * real public headers. */
#ifndef BLIND15_FAKELIBS_H
#define BLIND15_FAKELIBS_H

#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>

/* ---------------- libcurl (curl/curl.h) ---------------- */
typedef void CURL;
typedef long long curl_off_t;

typedef enum {
    CURLE_OK = 0,
    CURLE_UNSUPPORTED_PROTOCOL = 1,
    CURLE_COULDNT_CONNECT = 7,
    CURLE_WRITE_ERROR = 23,
    CURLE_READ_ERROR = 26,
    CURLE_OUT_OF_MEMORY = 27,
    CURLE_OPERATION_TIMEDOUT = 28,
    CURLE_ABORTED_BY_CALLBACK = 42
} CURLcode;

typedef enum {
    CURLOPT_WRITEDATA = 10001,
    CURLOPT_URL = 10002,
    CURLOPT_READDATA = 10009,
    CURLOPT_HEADERDATA = 10029,
    CURLOPT_XFERINFODATA = 10057,
    CURLOPT_WRITEFUNCTION = 20011,
    CURLOPT_READFUNCTION = 20012,
    CURLOPT_HEADERFUNCTION = 20079,
    CURLOPT_XFERINFOFUNCTION = 20219,
    CURLOPT_NOPROGRESS = 43,
    CURLOPT_UPLOAD = 46,
    CURLOPT_TIMEOUT = 13
} CURLoption;

#define CURL_READFUNC_ABORT 0x10000000
#define CURL_WRITEFUNC_PAUSE 0x10000001

typedef size_t (*curl_write_callback)(char *buffer, size_t size,
                                      size_t nitems, void *outstream);
typedef size_t (*curl_read_callback)(char *buffer, size_t size,
                                     size_t nitems, void *instream);
typedef int (*curl_xferinfo_callback)(void *clientp, curl_off_t dltotal,
                                      curl_off_t dlnow, curl_off_t ultotal,
                                      curl_off_t ulnow);

CURL *curl_easy_init(void);
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...);
CURLcode curl_easy_perform(CURL *curl);
void curl_easy_cleanup(CURL *curl);
void curl_easy_reset(CURL *curl);
const char *curl_easy_strerror(CURLcode);

/* ---------------- LMDB (lmdb.h) ---------------- */
typedef struct MDB_env MDB_env;
typedef struct MDB_txn MDB_txn;
typedef struct MDB_cursor MDB_cursor;
typedef unsigned int MDB_dbi;

typedef struct MDB_val {
    size_t mv_size;
    void *mv_data;
} MDB_val;

typedef enum MDB_cursor_op {
    MDB_FIRST,
    MDB_FIRST_DUP,
    MDB_GET_BOTH,
    MDB_GET_BOTH_RANGE,
    MDB_GET_CURRENT,
    MDB_GET_MULTIPLE,
    MDB_LAST,
    MDB_LAST_DUP,
    MDB_NEXT,
    MDB_NEXT_DUP,
    MDB_NEXT_MULTIPLE,
    MDB_NEXT_NODUP,
    MDB_PREV,
    MDB_PREV_DUP,
    MDB_PREV_NODUP,
    MDB_SET,
    MDB_SET_KEY,
    MDB_SET_RANGE
} MDB_cursor_op;

#define MDB_SUCCESS 0
#define MDB_NOTFOUND (-30798)

int mdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
int mdb_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
int mdb_cursor_get(MDB_cursor *cursor, MDB_val *key, MDB_val *data,
                   MDB_cursor_op op);
int mdb_cursor_del(MDB_cursor *cursor, unsigned int flags);
char *mdb_strerror(int err);

/* ---------------- libmosquitto (mosquitto.h) ---------------- */
struct mosquitto;
struct mosquitto_message {
    int mid;
    char *topic;
    void *payload;
    int payloadlen;
    int qos;
    bool retain;
};

#define MOSQ_ERR_SUCCESS 0
#define MOSQ_ERR_NO_CONN 4

void mosquitto_connect_callback_set(struct mosquitto *mosq,
        void (*on_connect)(struct mosquitto *, void *, int));
void mosquitto_disconnect_callback_set(struct mosquitto *mosq,
        void (*on_disconnect)(struct mosquitto *, void *, int));
void mosquitto_message_callback_set(struct mosquitto *mosq,
        void (*on_message)(struct mosquitto *, void *,
                           const struct mosquitto_message *));
void mosquitto_log_callback_set(struct mosquitto *mosq,
        void (*on_log)(struct mosquitto *, void *, int, const char *));
int mosquitto_loop(struct mosquitto *mosq, int timeout, int max_packets);
int mosquitto_loop_forever(struct mosquitto *mosq, int timeout,
                           int max_packets);
const char *mosquitto_strerror(int mosq_errno);

#endif /* BLIND15_FAKELIBS_H */
