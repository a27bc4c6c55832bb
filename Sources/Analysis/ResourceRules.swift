import Diagnostics

/// The rules of the paired resources that free-threaded CPython and PEP 788 add (critical sections, PyMutex,
/// thread-state tokens, interpreter guards and views). Their pairs are data (`resources:` in
/// rules/cpython.yml); the path engine checks every kind the same way (ResourcePairs.swift).
enum ResourceRules {
    static func borrowedInfo(_ id: RuleID) -> RuleInfo {
        RuleInfo(
            id: id.rawValue, severity: .warning,
            summary: "a borrowed reference into a container other threads may change (free-threading mode)",
            rationale: """
                With the GIL, a borrowed reference from PyDict_GetItem() or PyList_GetItem() stays valid until this \
                thread runs Python code that could drop it. On a free-threaded build another thread can remove the \
                item at any moment and free it under you. Use the `Ref` variant (a strong reference, 3.13), or read \
                the container inside a critical section on it. Containers this function created and has not \
                published are not reported.
                """,
            wrong: """
                PyObject *handler = PyDict_GetItemWithError(registry, name);
                if (handler == NULL) return NULL;
                return PyObject_CallNoArgs(handler);   /* may be freed meanwhile */
                """,
            right: """
                PyObject *handler;
                if (PyDict_GetItemRef(registry, name, &handler) <= 0) return NULL;
                PyObject *r = PyObject_CallNoArgs(handler);
                Py_DECREF(handler);
                return r;
                """)
    }

    static func info(_ id: RuleID) -> RuleInfo {
        switch id {
        case .criticalSectionLeak:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "a return, goto or break leaves a critical section (Py_BEGIN_CRITICAL_SECTION, PyCriticalSection_Begin) without ending it",
                rationale: """
                    On a free-threaded build a critical section locks the object's own mutex until its END. Leaving \
                    the block by a return, a goto or a break skips the END: the object stays locked, and the next \
                    thread that touches it waits forever. On a GIL build the macros are only braces, so nothing \
                    shows until the extension runs on 3.13t or 3.14t.
                    """,
                wrong: """
                    Py_BEGIN_CRITICAL_SECTION(self);
                    if (self->closed)
                        return NULL;                /* the object stays locked */
                    self->count++;
                    Py_END_CRITICAL_SECTION();
                    """,
                right: """
                    int closed;
                    Py_BEGIN_CRITICAL_SECTION(self);
                    closed = self->closed;
                    if (!closed)
                        self->count++;
                    Py_END_CRITICAL_SECTION();
                    if (closed)
                        return NULL;
                    """)
        case .criticalSectionMismatch:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "a critical section ended by the END of another kind (BEGIN2 closed by END), or out of order",
                rationale: """
                    Py_BEGIN_CRITICAL_SECTION2 locks two objects and must be closed by Py_END_CRITICAL_SECTION2; \
                    sections nest, and the innermost must end first. Closing one with the other kind's END (or an \
                    outer one first) compiles on GIL builds, where the macros are braces, and on free-threaded \
                    builds unlocks the wrong mutexes or leaves one locked.
                    """,
                wrong: """
                    Py_BEGIN_CRITICAL_SECTION2(a, b);
                    swap_items(a, b);
                    Py_END_CRITICAL_SECTION();      /* BEGIN2 needs END2 */
                    """,
                right: """
                    Py_BEGIN_CRITICAL_SECTION2(a, b);
                    swap_items(a, b);
                    Py_END_CRITICAL_SECTION2();
                    """)
        case .pymutexLeak:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "a path leaves the function with a PyMutex it locked still locked",
                rationale: """
                    PyMutex_Lock() takes a lock that only PyMutex_Unlock() gives back. A path that returns without \
                    the unlock (an error branch, an early exit) leaves it locked, and the next thread that locks it \
                    waits forever.
                    """,
                wrong: """
                    PyMutex_Lock(&self->mutex);
                    if (self->items == NULL)
                        return -1;                  /* still locked */
                    PyMutex_Unlock(&self->mutex);
                    """,
                right: """
                    PyMutex_Lock(&self->mutex);
                    int ok = self->items != NULL;
                    PyMutex_Unlock(&self->mutex);
                    if (!ok)
                        return -1;
                    """)
        case .pymutexUnlockWithoutLock:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "PyMutex_Unlock() of a mutex that is not locked on this path",
                rationale: """
                    Unlocking a PyMutex that this path did not lock (twice, or on a branch that skipped the lock) \
                    is a fatal error in CPython ("unlocking mutex that is not locked"), or releases a lock another \
                    thread holds.
                    """,
                wrong: """
                    if (need_lock)
                        PyMutex_Lock(&m);
                    work();
                    PyMutex_Unlock(&m);             /* not locked when !need_lock */
                    """,
                right: """
                    if (need_lock)
                        PyMutex_Lock(&m);
                    work();
                    if (need_lock)
                        PyMutex_Unlock(&m);
                    """)
        case .threadStateTokenLeak:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "a PEP 788 thread-state token (PyThreadState_Ensure) not released on some path, or released where Ensure failed",
                rationale: """
                    PyThreadState_Ensure() and PyThreadState_EnsureFromView() attach a thread state and return a \
                    token that PyThreadState_Release() gives back. A path that keeps the token keeps the thread \
                    attached: stop-the-world pauses and finalization wait for it. Ensure returns NULL when the \
                    interpreter is gone; releasing that NULL is a fault of its own.
                    """,
                wrong: """
                    PyThreadStateToken *t = PyThreadState_Ensure(guard);
                    if (t == NULL)
                        return -1;
                    if (notify(cb) < 0)
                        return -1;                  /* still attached */
                    PyThreadState_Release(t);
                    """,
                right: """
                    PyThreadStateToken *t = PyThreadState_Ensure(guard);
                    if (t == NULL)
                        return -1;
                    int rc = notify(cb);
                    PyThreadState_Release(t);
                    return rc;
                    """)
        case .interpreterGuardLeak:
            return RuleInfo(
                id: id.rawValue, severity: .error,
                summary: "a PEP 788 interpreter guard or view not closed on some path",
                rationale: """
                    An interpreter guard keeps the interpreter from finalizing until PyInterpreterGuard_Close(); a \
                    view holds a reference until PyInterpreterView_Close(). A path that forgets one makes \
                    Py_Finalize() wait for it forever (a guard), or leaks the interpreter's state (a view).
                    """,
                wrong: """
                    PyInterpreterGuard *g = PyInterpreterGuard_FromCurrent();
                    if (g == NULL)
                        return NULL;
                    if (start_worker(job) < 0)
                        return NULL;                /* the guard stays open */
                    PyInterpreterGuard_Close(g);
                    """,
                right: """
                    PyInterpreterGuard *g = PyInterpreterGuard_FromCurrent();
                    if (g == NULL)
                        return NULL;
                    int rc = start_worker(job);
                    PyInterpreterGuard_Close(g);
                    if (rc < 0)
                        return NULL;
                    """)
        default:
            preconditionFailure("\(id.rawValue) is not a resource rule")
        }
    }
}
