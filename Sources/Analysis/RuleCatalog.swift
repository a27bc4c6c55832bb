import Diagnostics

/// Documentation of every rule, shown by `gilcheck rules`, `gilcheck explain` and in SARIF's rule table.
public enum RuleCatalog {
    public static var all: [RuleInfo] { RuleID.allCases.map(info) }

    public static func info(_ id: RuleID) -> RuleInfo {
        switch id {
        case .criticalSectionLeak, .criticalSectionMismatch, .pymutexLeak, .pymutexUnlockWithoutLock,
             .threadStateTokenLeak, .interpreterGuardLeak:
            return ResourceRules.info(id)
        case .missingModGIL:
            return ModuleGIL.info(id)
        case .borrowedRefFreeThreading:
            return ResourceRules.borrowedInfo(id)
        case .ensureLeak:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "a path leaves the function still holding a GIL state from PyGILState_Ensure()",
                rationale: """
                    PyGILState_Ensure() takes the GIL for this thread and PyGILState_Release() gives it back. When one \
                    path (an early return, an error branch, a goto past the cleanup) skips the release, this thread keeps \
                    the GIL after the function returns. Every other thread that needs Python then waits forever: the \
                    program hangs, often much later and far from the cause.
                    """,
                wrong: """
                    int call_hook(PyObject *fn) {
                        PyGILState_STATE st = PyGILState_Ensure();
                        PyObject *r = PyObject_CallNoArgs(fn);
                        if (r == NULL)
                            return -1;              /* GIL still held */
                        Py_DECREF(r);
                        PyGILState_Release(st);
                        return 0;
                    }
                    """,
                right: """
                    int call_hook(PyObject *fn) {
                        int rc = 0;
                        PyGILState_STATE st = PyGILState_Ensure();
                        PyObject *r = PyObject_CallNoArgs(fn);
                        if (r == NULL) { rc = -1; goto done; }
                        Py_DECREF(r);
                    done:
                        PyGILState_Release(st);
                        return rc;
                    }
                    """)
        case .releaseWithoutEnsure:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "PyGILState_Release() of a state that is not held on this path",
                rationale: """
                    Releasing a state twice, or on a path that skipped the PyGILState_Ensure() that produced it, \
                    releases a GIL this thread does not hold or frees its thread state twice. CPython aborts with \
                    "Fatal Python error: PyGILState_Release: thread state must be current when releasing", or \
                    corrupts the interpreter's thread bookkeeping.
                    """,
                wrong: """
                    void notify(int ready) {
                        PyGILState_STATE st;
                        if (ready)
                            st = PyGILState_Ensure();
                        run_callbacks();
                        PyGILState_Release(st);     /* not held when !ready */
                    }
                    """,
                right: """
                    void notify(int ready) {
                        PyGILState_STATE st;
                        if (ready)
                            st = PyGILState_Ensure();
                        run_callbacks();
                        if (ready)
                            PyGILState_Release(st);
                    }
                    """)
        case .releaseOrder:
            return RuleInfo(
                id: id.rawValue, severity: .warning,
                summary: "GIL states released out of order (not last-in, first-out)",
                rationale: """
                    Nested PyGILState_Ensure() calls are legal, but each state records what the thread had before it; \
                    releasing an outer state while an inner one is live restores the wrong thread state, and the \
                    inner release then fails or leaves the GIL in the wrong hands.
                    """,
                wrong: """
                    PyGILState_STATE a = PyGILState_Ensure();
                    PyGILState_STATE b = PyGILState_Ensure();
                    PyGILState_Release(a);          /* b is the innermost */
                    PyGILState_Release(b);
                    """,
                right: """
                    PyGILState_STATE a = PyGILState_Ensure();
                    PyGILState_STATE b = PyGILState_Ensure();
                    PyGILState_Release(b);
                    PyGILState_Release(a);
                    """)
        case .allowThreadsLeak:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "a path leaves the function with the GIL released by Py_BEGIN_ALLOW_THREADS / PyEval_SaveThread()",
                rationale: """
                    Code between Py_BEGIN_ALLOW_THREADS and Py_END_ALLOW_THREADS runs without the GIL. A return or \
                    goto out of that region skips the re-acquisition: the caller, which believes it holds the GIL, \
                    runs Python code without it and crashes at random, and the saved thread state is lost.
                    """,
                wrong: """
                    Py_BEGIN_ALLOW_THREADS
                    n = read(fd, buf, len);
                    if (n < 0)
                        return PyErr_SetFromErrno(PyExc_OSError);   /* GIL not re-acquired */
                    Py_END_ALLOW_THREADS
                    """,
                right: """
                    Py_BEGIN_ALLOW_THREADS
                    n = read(fd, buf, len);
                    Py_END_ALLOW_THREADS
                    if (n < 0)
                        return PyErr_SetFromErrno(PyExc_OSError);
                    """)
        case .restoreWithoutSave:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "PyEval_RestoreThread() of a thread state that was not saved on this path",
                rationale: """
                    Restoring a thread state that this path never saved (or already restored) takes the GIL a \
                    second time from a thread that already holds it: CPython deadlocks on itself or aborts with a \
                    fatal error about the thread state.
                    """,
                wrong: """
                    PyThreadState *ts = NULL;
                    if (slow)
                        ts = PyEval_SaveThread();
                    compute();
                    PyEval_RestoreThread(ts);       /* never saved when !slow */
                    """,
                right: """
                    PyThreadState *ts = NULL;
                    if (slow)
                        ts = PyEval_SaveThread();
                    compute();
                    if (slow)
                        PyEval_RestoreThread(ts);
                    """)
        case .nestedRelease:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "the GIL is released again while already released on this path",
                rationale: """
                    PyEval_SaveThread() (and Py_BEGIN_ALLOW_THREADS, Py_UNBLOCK_THREADS) must be called with the \
                    GIL held. Calling it a second time without a restore in between makes CPython abort with \
                    "Fatal Python error: PyEval_SaveThread: the function must be called with the GIL held".
                    """,
                wrong: """
                    Py_BEGIN_ALLOW_THREADS
                    prepare();
                    Py_BEGIN_ALLOW_THREADS          /* already released */
                    compute();
                    Py_END_ALLOW_THREADS
                    Py_END_ALLOW_THREADS
                    """,
                right: """
                    Py_BEGIN_ALLOW_THREADS
                    prepare();
                    compute();
                    Py_END_ALLOW_THREADS
                    """)
        case .apiWithoutGIL:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "Python C API called (or a Python object dereferenced) while the GIL is released",
                rationale: """
                    Nearly every Py* function, and every touch of a PyObject's fields (reference counts included), \
                    needs the GIL. Without it two threads race on the interpreter's state: the program crashes \
                    rarely, far from the cause, and no test reproduces it. The functions documented as safe without \
                    the GIL are listed with `gil: free` in rules/cpython.yml.
                    """,
                wrong: """
                    Py_BEGIN_ALLOW_THREADS
                    result = compress(buf, len);
                    Py_DECREF(input);               /* needs the GIL */
                    Py_END_ALLOW_THREADS
                    """,
                right: """
                    Py_BEGIN_ALLOW_THREADS
                    result = compress(buf, len);
                    Py_END_ALLOW_THREADS
                    Py_DECREF(input);
                    """)
        case .deprecatedGILAPI:
            return RuleInfo(
                id: id.rawValue, severity: .warning,
                summary: "a deprecated or removed GIL API is called",
                rationale: """
                    PyEval_InitThreads() and PyEval_ThreadsInitialized() do nothing since Python 3.9; \
                    PyEval_AcquireLock() and PyEval_ReleaseLock() take the GIL without setting the thread state. All \
                    four are gone from the headers of Python 3.13, so the code stops compiling there.
                    """,
                wrong: """
                    Py_Initialize();
                    PyEval_InitThreads();
                    """,
                right: """
                    Py_Initialize();
                    """)
        case .threadEntryWithoutGIL:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "a thread entry or foreign-thread callback uses the Python API before acquiring the GIL",
                rationale: """
                    A function started with pthread_create(), thrd_create(), PyThread_start_new_thread() or \
                    std::thread, or registered as a callback that a library calls on its own threads (listed under \
                    `thread-entries:` in a rules file), starts without the GIL. Every path must take it \
                    (PyGILState_Ensure()) before the first Python call, including calls hidden in helpers \
                    (gilcheck follows them through their summaries). Otherwise the thread races the interpreter \
                    and the program crashes at random.
                    """,
                wrong: """
                    static void *worker(void *arg) {
                        PyObject *r = PyObject_CallNoArgs((PyObject *)arg);   /* no GIL yet */
                        Py_XDECREF(r);
                        return NULL;
                    }
                    """,
                right: """
                    static void *worker(void *arg) {
                        PyGILState_STATE st = PyGILState_Ensure();
                        PyObject *r = PyObject_CallNoArgs((PyObject *)arg);
                        Py_XDECREF(r);
                        PyGILState_Release(st);
                        return NULL;
                    }
                    """)
        case .blockingWithGIL:
            return RuleInfo(
                id: id.rawValue, severity: .warning,
                summary: "a blocking call (mutex, join, sleep, blocking I/O) is made while holding the GIL",
                rationale: """
                    While this thread waits with the GIL held, no other thread can run Python. If the thread it \
                    waits for (the lock holder, the thread being joined) needs the GIL to make progress, both \
                    wait forever: a deadlock that shows up only under load. Release the GIL around the wait \
                    (Py_BEGIN_ALLOW_THREADS), or list a lock that only non-Python threads take under \
                    `safe-locks:` in a rules file. The blocking calls are those with `blocks: true` in rules/. \
                    The lock order between the GIL and the project's mutexes (globals and struct fields) is \
                    checked across the run: taking the GIL while holding a mutex that another place locks with \
                    the GIL held is reported at the wait, and a mutex that every place locks with the GIL held \
                    is never contended, so its locks are not reported.
                    """,
                wrong: """
                    PyGILState_STATE st = PyGILState_Ensure();
                    pthread_mutex_lock(&queue_lock);        /* a worker holding queue_lock wants the GIL */
                    """,
                right: """
                    Py_BEGIN_ALLOW_THREADS
                    pthread_mutex_lock(&queue_lock);
                    Py_END_ALLOW_THREADS
                    """)
        case .initHoldsGIL:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "threads that take the GIL are started after Py_Initialize() while the main thread never releases it",
                rationale: """
                    Py_Initialize() leaves the calling thread holding the GIL. An embedding host that then starts \
                    worker threads calling PyGILState_Ensure() must release the GIL (PyEval_SaveThread()) or the \
                    workers wait forever; the host hangs at its first join.
                    """,
                wrong: """
                    Py_Initialize();
                    pthread_create(&t, NULL, worker, NULL);   /* worker calls PyGILState_Ensure() */
                    pthread_join(t, NULL);
                    """,
                right: """
                    Py_Initialize();
                    PyThreadState *main_state = PyEval_SaveThread();
                    pthread_create(&t, NULL, worker, NULL);
                    pthread_join(t, NULL);
                    PyEval_RestoreThread(main_state);
                    Py_FinalizeEx();
                    """)
        case .finalizeWithoutGIL:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "Py_Finalize() / Py_FinalizeEx() is called without the GIL, or Python is used after the interpreter is finalized (exit handlers, static destructors)",
                rationale: """
                    Finalization runs Python code (atexit handlers, __del__ methods, module teardown) and must be \
                    called with the GIL held by the thread that initialized Python. An embedder that released the \
                    GIL after Py_Initialize() must re-acquire it first, or CPython aborts with a fatal error. Once \
                    the interpreter is finalized no Python API may be used and the GIL cannot be taken: code after \
                    Py_FinalizeEx(), C atexit() and Py_AtExit() handlers, and the destructors of C++ objects of \
                    static storage duration (which run after Python's own main has finalized) crash or hang there. \
                    Check Py_IsInitialized() first, or release such objects before finalizing.
                    """,
                wrong: """
                    PyThreadState *main_state = PyEval_SaveThread();
                    run_workers();
                    Py_FinalizeEx();                         /* GIL still released */
                    """,
                right: """
                    PyThreadState *main_state = PyEval_SaveThread();
                    run_workers();
                    PyEval_RestoreThread(main_state);
                    Py_FinalizeEx();
                    """)
        case .unusedSuppression:
            return RuleInfo(
                id: id.rawValue, severity: .warning,
                summary: "a `gilcheck: ignore[...]` comment silences nothing (reported with --report-unused-suppressions)",
                rationale: """
                    A suppression comment that no longer matches a finding (the code was fixed, the rule id is \
                    misspelled, the comment moved away from the line) hides nothing today but will silently hide \
                    the next real bug on that line. gilcheck reports it only when asked with \
                    --report-unused-suppressions; delete the comment or correct its rule id.
                    """,
                wrong: """
                    PyGILState_STATE st = PyGILState_Ensure();
                    PyGILState_Release(st);   // gilcheck: ignore[ensure-leak] fixed long ago
                    """,
                right: """
                    PyGILState_STATE st = PyGILState_Ensure();
                    PyGILState_Release(st);
                    """)
        case .analysisBudget:
            return RuleInfo(
                id: id.rawValue, severity: .note,
                summary: "a function has more paths than the analysis explores; findings in it may be incomplete",
                rationale: """
                    The analysis follows every path, merging paths whose GIL state and tracked values agree. A \
                    function whose paths do not merge (many independent flags, deep nesting) is cut off after a \
                    budget rather than slowing the run down; the note says so instead of guessing.
                    """,
                wrong: "", right: "")
        }
    }
}
