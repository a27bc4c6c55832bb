// Generated-code shape (Cython and SWIG write functions like these): two dozen temporaries, each tested for
// NULL on the way to one error label that drops them all. Tracking every test would give each combination of
// NULL temporaries a path of its own, past the analysis budget; none of the tests decides anything about the
// GIL, so the paths meet, the whole function is followed, and the early return near the end is still found.
// The correlated `if (release)` pair around the slow call is still followed as a pair (no false report).
#include <Python.h>

void compute_without_python(void);

int bad_generated_getattrs(PyObject *obj, int release)
{
    PyObject *t_1 = NULL;
    PyObject *t_2 = NULL;
    PyObject *t_3 = NULL;
    PyObject *t_4 = NULL;
    PyObject *t_5 = NULL;
    PyObject *t_6 = NULL;
    PyObject *t_7 = NULL;
    PyObject *t_8 = NULL;
    PyObject *t_9 = NULL;
    PyObject *t_10 = NULL;
    PyObject *t_11 = NULL;
    PyObject *t_12 = NULL;
    PyObject *t_13 = NULL;
    PyObject *t_14 = NULL;
    PyObject *t_15 = NULL;
    PyObject *t_16 = NULL;
    PyObject *t_17 = NULL;
    PyObject *t_18 = NULL;
    PyObject *t_19 = NULL;
    PyObject *t_20 = NULL;
    PyObject *t_21 = NULL;
    PyObject *t_22 = NULL;
    PyObject *t_23 = NULL;
    PyObject *t_24 = NULL;
    int result = -1;
    PyGILState_STATE st = PyGILState_Ensure();          // expect-note{{GIL acquired here}}
    t_1 = PyObject_GetAttrString(obj, "a1");
    if (t_1 == NULL) goto error;
    t_2 = PyObject_GetAttrString(obj, "a2");
    if (t_2 == NULL) goto error;
    t_3 = PyObject_GetAttrString(obj, "a3");
    if (t_3 == NULL) goto error;
    t_4 = PyObject_GetAttrString(obj, "a4");
    if (t_4 == NULL) goto error;
    t_5 = PyObject_GetAttrString(obj, "a5");
    if (t_5 == NULL) goto error;
    t_6 = PyObject_GetAttrString(obj, "a6");
    if (t_6 == NULL) goto error;
    t_7 = PyObject_GetAttrString(obj, "a7");
    if (t_7 == NULL) goto error;
    t_8 = PyObject_GetAttrString(obj, "a8");
    if (t_8 == NULL) goto error;
    t_9 = PyObject_GetAttrString(obj, "a9");
    if (t_9 == NULL) goto error;
    t_10 = PyObject_GetAttrString(obj, "a10");
    if (t_10 == NULL) goto error;
    t_11 = PyObject_GetAttrString(obj, "a11");
    if (t_11 == NULL) goto error;
    t_12 = PyObject_GetAttrString(obj, "a12");
    if (t_12 == NULL) goto error;
    t_13 = PyObject_GetAttrString(obj, "a13");
    if (t_13 == NULL) goto error;
    t_14 = PyObject_GetAttrString(obj, "a14");
    if (t_14 == NULL) goto error;
    t_15 = PyObject_GetAttrString(obj, "a15");
    if (t_15 == NULL) goto error;
    t_16 = PyObject_GetAttrString(obj, "a16");
    if (t_16 == NULL) goto error;
    t_17 = PyObject_GetAttrString(obj, "a17");
    if (t_17 == NULL) goto error;
    t_18 = PyObject_GetAttrString(obj, "a18");
    if (t_18 == NULL) goto error;
    t_19 = PyObject_GetAttrString(obj, "a19");
    if (t_19 == NULL) goto error;
    t_20 = PyObject_GetAttrString(obj, "a20");
    if (t_20 == NULL) goto error;
    t_21 = PyObject_GetAttrString(obj, "a21");
    if (t_21 == NULL) goto error;
    t_22 = PyObject_GetAttrString(obj, "a22");
    if (t_22 == NULL) goto error;
    t_23 = PyObject_GetAttrString(obj, "a23");
    if (t_23 == NULL) goto error;
    t_24 = PyObject_GetAttrString(obj, "a24");
    if (t_24 == NULL) goto error;
    PyThreadState *saved = NULL;
    if (release)
        saved = PyEval_SaveThread();
    compute_without_python();
    if (release)
        PyEval_RestoreThread(saved);
    if (PyObject_IsTrue(t_1) == 0)
        return 0;                                 // expect-error{{is not released before this return}} [ensure-leak]
    result = 0;
error:
    Py_XDECREF(t_1);
    Py_XDECREF(t_2);
    Py_XDECREF(t_3);
    Py_XDECREF(t_4);
    Py_XDECREF(t_5);
    Py_XDECREF(t_6);
    Py_XDECREF(t_7);
    Py_XDECREF(t_8);
    Py_XDECREF(t_9);
    Py_XDECREF(t_10);
    Py_XDECREF(t_11);
    Py_XDECREF(t_12);
    Py_XDECREF(t_13);
    Py_XDECREF(t_14);
    Py_XDECREF(t_15);
    Py_XDECREF(t_16);
    Py_XDECREF(t_17);
    Py_XDECREF(t_18);
    Py_XDECREF(t_19);
    Py_XDECREF(t_20);
    Py_XDECREF(t_21);
    Py_XDECREF(t_22);
    Py_XDECREF(t_23);
    Py_XDECREF(t_24);
    PyGILState_Release(st);
    return result;
}

// The same function without the early return: quiet, and no analysis-budget note.
int ok_generated_getattrs(PyObject *obj, int release)
{
    PyObject *t_1 = NULL;
    PyObject *t_2 = NULL;
    PyObject *t_3 = NULL;
    PyObject *t_4 = NULL;
    PyObject *t_5 = NULL;
    PyObject *t_6 = NULL;
    PyObject *t_7 = NULL;
    PyObject *t_8 = NULL;
    PyObject *t_9 = NULL;
    PyObject *t_10 = NULL;
    PyObject *t_11 = NULL;
    PyObject *t_12 = NULL;
    PyObject *t_13 = NULL;
    PyObject *t_14 = NULL;
    PyObject *t_15 = NULL;
    PyObject *t_16 = NULL;
    PyObject *t_17 = NULL;
    PyObject *t_18 = NULL;
    PyObject *t_19 = NULL;
    PyObject *t_20 = NULL;
    PyObject *t_21 = NULL;
    PyObject *t_22 = NULL;
    PyObject *t_23 = NULL;
    PyObject *t_24 = NULL;
    int result = -1;
    PyGILState_STATE st = PyGILState_Ensure();
    t_1 = PyObject_GetAttrString(obj, "a1");
    if (t_1 == NULL) goto error;
    t_2 = PyObject_GetAttrString(obj, "a2");
    if (t_2 == NULL) goto error;
    t_3 = PyObject_GetAttrString(obj, "a3");
    if (t_3 == NULL) goto error;
    t_4 = PyObject_GetAttrString(obj, "a4");
    if (t_4 == NULL) goto error;
    t_5 = PyObject_GetAttrString(obj, "a5");
    if (t_5 == NULL) goto error;
    t_6 = PyObject_GetAttrString(obj, "a6");
    if (t_6 == NULL) goto error;
    t_7 = PyObject_GetAttrString(obj, "a7");
    if (t_7 == NULL) goto error;
    t_8 = PyObject_GetAttrString(obj, "a8");
    if (t_8 == NULL) goto error;
    t_9 = PyObject_GetAttrString(obj, "a9");
    if (t_9 == NULL) goto error;
    t_10 = PyObject_GetAttrString(obj, "a10");
    if (t_10 == NULL) goto error;
    t_11 = PyObject_GetAttrString(obj, "a11");
    if (t_11 == NULL) goto error;
    t_12 = PyObject_GetAttrString(obj, "a12");
    if (t_12 == NULL) goto error;
    t_13 = PyObject_GetAttrString(obj, "a13");
    if (t_13 == NULL) goto error;
    t_14 = PyObject_GetAttrString(obj, "a14");
    if (t_14 == NULL) goto error;
    t_15 = PyObject_GetAttrString(obj, "a15");
    if (t_15 == NULL) goto error;
    t_16 = PyObject_GetAttrString(obj, "a16");
    if (t_16 == NULL) goto error;
    t_17 = PyObject_GetAttrString(obj, "a17");
    if (t_17 == NULL) goto error;
    t_18 = PyObject_GetAttrString(obj, "a18");
    if (t_18 == NULL) goto error;
    t_19 = PyObject_GetAttrString(obj, "a19");
    if (t_19 == NULL) goto error;
    t_20 = PyObject_GetAttrString(obj, "a20");
    if (t_20 == NULL) goto error;
    t_21 = PyObject_GetAttrString(obj, "a21");
    if (t_21 == NULL) goto error;
    t_22 = PyObject_GetAttrString(obj, "a22");
    if (t_22 == NULL) goto error;
    t_23 = PyObject_GetAttrString(obj, "a23");
    if (t_23 == NULL) goto error;
    t_24 = PyObject_GetAttrString(obj, "a24");
    if (t_24 == NULL) goto error;
    PyThreadState *saved = NULL;
    if (release)
        saved = PyEval_SaveThread();
    compute_without_python();
    if (release)
        PyEval_RestoreThread(saved);
    result = 0;
error:
    Py_XDECREF(t_1);
    Py_XDECREF(t_2);
    Py_XDECREF(t_3);
    Py_XDECREF(t_4);
    Py_XDECREF(t_5);
    Py_XDECREF(t_6);
    Py_XDECREF(t_7);
    Py_XDECREF(t_8);
    Py_XDECREF(t_9);
    Py_XDECREF(t_10);
    Py_XDECREF(t_11);
    Py_XDECREF(t_12);
    Py_XDECREF(t_13);
    Py_XDECREF(t_14);
    Py_XDECREF(t_15);
    Py_XDECREF(t_16);
    Py_XDECREF(t_17);
    Py_XDECREF(t_18);
    Py_XDECREF(t_19);
    Py_XDECREF(t_20);
    Py_XDECREF(t_21);
    Py_XDECREF(t_22);
    Py_XDECREF(t_23);
    Py_XDECREF(t_24);
    PyGILState_Release(st);
    return result;
}
