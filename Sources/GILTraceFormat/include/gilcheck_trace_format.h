/* The event log written by the gilcheck trace library (libgilcheck-trace.so) and read by `gilcheck trace`.
 *
 * Layout: one file per traced thread, `<dir>/gilcheck.<pid>.<tid>.trace`, written through a shared memory
 * mapping, so that every record written reaches the file even when the process aborts, segfaults or is
 * killed. A file is a 64-byte file header followed by records; the unused tail of the file is zero, so the
 * reader stops at the first record whose `magic` is not GILT_RECORD_MAGIC or that does not fit in the file
 * (a torn last record).
 *
 * A record is a fixed 48-byte head followed by `words` 64-bit payload words: stack frames (return addresses,
 * innermost first) or, for records that carry a name or path, the NUL-padded bytes of the string.
 * All integers are little-endian (the tracer runs on x86-64 Linux only).
 */
#ifndef GILCHECK_TRACE_FORMAT_H
#define GILCHECK_TRACE_FORMAT_H

#include <stdint.h>

#define GILT_FILE_MAGIC "GILTRC01"
#define GILT_RECORD_MAGIC 0x4754u /* "TG" */
#define GILT_VERSION 1u

typedef struct gilt_file_header {
    char magic[8];          /* GILT_FILE_MAGIC */
    uint32_t version;       /* GILT_VERSION */
    uint32_t pid;
    uint32_t tid;           /* the thread that owns this file */
    uint32_t ppid;
    uint64_t ticks_per_second; /* rate of the `time` field of records (TSC), estimated at start-up */
    uint64_t start_ticks;   /* `time` when the process started being traced */
    uint64_t start_unix_ns; /* wall-clock time at the same instant */
    uint32_t options;       /* GILT_OPTION_* */
    uint32_t sample_rate;   /* GILT_OPTION_SAMPLED: one uncontended acquisition in this many is timed */
    uint8_t reserved[8];
} gilt_file_header;

typedef struct gilt_record {
    uint16_t magic;  /* GILT_RECORD_MAGIC */
    uint16_t kind;   /* gilt_kind */
    uint16_t words;  /* payload words after this head */
    uint16_t flags;  /* kind-specific */
    uint32_t tid;    /* the thread the record is about */
    uint32_t detail; /* kind-specific small value (an API id, a finding id) */
    uint64_t time;   /* ticks (see the file header) */
    uint64_t a, b;   /* kind-specific */
    uint64_t pc;     /* the return address into the code that made the call (the call site), or 0 */
} gilt_record;

enum gilt_kind {
    /* a = pid, b = ppid, flags = GILT_PROCESS_FORKED for a child of fork() (it goes on from the forking thread, with
       the parent's loaded objects). Payload: the command line (argv joined by NUL, then padded). */
    GILT_PROCESS_START = 1,
    /* A loaded object. a = load base (dlpi_addr), b = end of its highest segment, pc = start of its lowest
       segment; flags: GILT_MODULE_*.
       Payload: its path (for the main program, the resolved path of /proc/self/exe). */
    GILT_MODULE = 2,
    /* A thread started by pthread_create. a = creating thread's tid, b = start routine address, pc = the call site. */
    GILT_THREAD_START = 3,
    /* The thread ended. a = 1 when it still held the GIL, b = live Ensure states. */
    GILT_THREAD_EXIT = 4,
    /* The user's code took the GIL. detail = gilt_api, a = ticks spent waiting, b = 1 when the thread already
       held it (a nested PyGILState_Ensure), pc = call site, flags = GILT_HOLD_*. */
    GILT_GIL_ACQUIRE = 5,
    /* The user's code let the GIL go. detail = gilt_api, a = ticks the GIL was held since the matching outermost
       acquisition (0 when nested or unknown), b = call site of that acquisition, pc = call site,
       flags = GILT_HOLD_* (those of the acquisition). With a sampled timeline only some holds are recorded,
       each as an ACQUIRE/RELEASE pair with the same flags. */
    GILT_GIL_RELEASE = 6,
    /* A fault seen at run time. detail = gilt_finding, flags = gilt_api involved (or 0), a and b as listed at
       gilt_finding, pc = call site. Payload: the native stack. */
    GILT_FINDING = 7,
    /* First time this process took lock `b` while holding lock `a` (lock ids: GILT_LOCK_GIL for the GIL, else
       the address of a pthread mutex). pc = call site of the acquisition of `b`. Payload: word 0 = call site
       of the acquisition of `a`, then the native stack at the acquisition of `b`. */
    GILT_LOCK_EDGE = 8,
    /* The watchdog found a wait longer than the hang timeout. tid = the waiting thread, a = the lock waited
       for, b = nanoseconds waited. Followed by one GILT_THREAD_STACK per traced thread. */
    GILT_HANG = 9,
    /* A thread's state when the watchdog fired. tid = that thread, a = lock it waits for (0 = none),
       b = GILT_LOCK_GIL when it holds the GIL, flags = 1 when the stack could be read. Payload: the stack,
       then a 0 word, then the ids of the locks it holds. */
    GILT_THREAD_STACK = 10,
    /* The name of a watched C API function that got a checking stub. a = stub index. Payload: the name. */
    GILT_API_NAME = 11,
    /* Events that could not be recorded (the log could not grow). a = count. */
    GILT_DROPPED = 12,
    /* A lock wait of the user's code on a pthread mutex longer than 1 ms. a = mutex, b = ticks waited. */
    GILT_MUTEX_WAIT = 13,
    /* The Python stack of the thread when it recorded the GILT_LOCK_EDGE a -> b just before (only when it held
       the GIL then). Payload: one line per frame, innermost first, "function (file:line)\n", NUL-padded. */
    GILT_PYTHON_STACK = 14,
    /* How many outermost GIL acquisitions the user's code on thread `tid` made, all of them (exact whether or not
       the timeline is sampled). a = that count. Written when the thread ends and, for threads still running, when
       the process exits. */
    GILT_ACQUISITION_COUNT = 15,
    /* The process is ending. detail = gilt_process_end, a = the exit status or the signal number, b = 1 when a
       thread of the process held the GIL (for a death by signal), tid = the thread that ended it. */
    GILT_PROCESS_END = 16,
    /* This process reaped a child (waitpid, wait4, wait). a = the child's pid, b = the wait status (as waitpid
       returns it). Tells how a child ended when the child could not say so itself (SIGKILL, a return from main). */
    GILT_CHILD_END = 17,
};

/* How a process ended (detail of GILT_PROCESS_END). */
enum gilt_process_end {
    GILT_END_EXIT = 1,         /* exit(), _exit() or _Exit(): a = the status */
    GILT_END_SIGNAL = 2,       /* a fatal signal: a = its number */
    GILT_END_EXIT_UNKNOWN = 3, /* exit handlers ran, but the status was not seen (main returned) */
};

#define GILT_PROCESS_FORKED 1u

enum gilt_module_flags {
    GILT_MODULE_USER = 1,        /* code under test: its imports are checked */
    GILT_MODULE_INTERPRETER = 2, /* libpython or a python executable: its own calls are not the user's */
    GILT_MODULE_TRACER = 4,      /* this library */
    GILT_MODULE_SYSTEM = 8,      /* a system library (libc, ld.so, /usr/lib) */
};

#define GILT_LOCK_GIL 1u

/* File header options. */
#define GILT_OPTION_NO_TIMELINE 1u /* GILCHECK_TRACE_TIMELINE=0: no GILT_GIL_ACQUIRE/RELEASE records */
#define GILT_OPTION_SAMPLED 2u     /* a sampled timeline: see gilt_hold_flags and the header's sample_rate */

/* Why a hold was recorded (flags of GILT_GIL_ACQUIRE and GILT_GIL_RELEASE). With an exact timeline every hold is
   recorded and the flags are 0. With a sampled one, every hold whose acquisition waited GILT_LONG_WAIT_NS or more
   (GILT_HOLD_WAITED) or that lasted longer than the long-hold threshold (GILT_HOLD_LONG) is recorded and stands for
   itself; so does every one of a thread's first 256 acquisitions (recorded with no flag); of the others, a random
   one in `sample_rate` is (GILT_HOLD_SAMPLED alone) and stands for `sample_rate` holds like it. */
enum gilt_hold_flags {
    GILT_HOLD_SAMPLED = 1, /* picked by the sampling countdown */
    GILT_HOLD_WAITED = 2,  /* the acquisition waited GILT_LONG_WAIT_NS or more for the GIL */
    GILT_HOLD_LONG = 4,    /* held longer than the long-hold threshold. Without GILT_HOLD_SAMPLED or
                              GILT_HOLD_WAITED the hold was not timed when taken: the coarse clock showed at the
                              release that it lasted at least the threshold; the pair is written then, the hold being
                              that lower bound and the ACQUIRE record dated back by it */
};
#define GILT_LONG_WAIT_NS 1000000ull

enum gilt_api {
    GILT_API_NONE = 0,
    GILT_API_GILSTATE_ENSURE = 1,
    GILT_API_GILSTATE_RELEASE = 2,
    GILT_API_SAVE_THREAD = 3,
    GILT_API_RESTORE_THREAD = 4,
    GILT_API_ACQUIRE_THREAD = 5,
    GILT_API_RELEASE_THREAD = 6,
    GILT_API_ACQUIRE_LOCK = 7,
    GILT_API_RELEASE_LOCK = 8,
    GILT_API_INIT_THREADS = 9,
    GILT_API_INITIALIZE = 10,
    GILT_API_FINALIZE = 11,
    GILT_API_GILSTATE_CHECK = 12,
};

enum gilt_finding {
    /* A release of the GIL by a thread that did not acquire it: PyGILState_Release with no live Ensure,
       PyEval_RestoreThread with no save, PyEval_SaveThread/ReleaseThread while not holding the GIL.
       flags = the API. a = 1 when the thread held the GIL (per CPython) at the call. */
    GILT_F_RELEASE_WITHOUT_ENSURE = 1,
    /* A watched C API function called without the GIL. a = stub index (see GILT_API_NAME), b = number of
       such calls from this call site so far (reported once per call site). */
    GILT_F_API_WITHOUT_GIL = 2,
    /* A thread ended holding the GIL without a live Ensure (RestoreThread/AcquireThread never undone).
       a = call site of the acquisition. */
    GILT_F_THREAD_EXIT_HOLDING_GIL = 3,
    /* A thread (or, with b = 1, the process) ended with PyGILState_Ensure states not released.
       a = call site of the innermost unreleased Ensure; flags = how many states are live. */
    GILT_F_ENSURE_LEAK_AT_EXIT = 4,
};

#endif
