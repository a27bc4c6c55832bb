// PortAudio calls that wait for the audio thread (rules/libs/portaudio.yml). With a stream callback that takes the
// GIL, starting, aborting or terminating with the GIL held deadlocks: PyAudio 0.2.10 released around them.
#include <Python.h>

typedef int PaError;
typedef void PaStream;
PaError Pa_Initialize(void);
PaError Pa_Terminate(void);
PaError Pa_StartStream(PaStream *stream);
PaError Pa_AbortStream(PaStream *stream);
PaError Pa_IsStreamActive(PaStream *stream);
const char *Pa_GetErrorText(PaError err);

typedef struct { PyObject_HEAD PaStream *stream; } Stream;

static PyObject *bad_start_stream(PyObject *self, PyObject *unused)
{
    PaError err = Pa_StartStream(((Stream *)self)->stream);      // expect-warning{{Pa_StartStream() may block while this thread holds the GIL}} [blocking-with-gil]
    if (err < 0) {
        PyErr_SetString(PyExc_IOError, Pa_GetErrorText(err));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *bad_terminate(PyObject *self, PyObject *unused)
{
    Pa_Terminate();                                              // expect-warning{{Pa_Terminate() may block}} [blocking-with-gil]
    Py_RETURN_NONE;
}

static PyObject *ok_start_stream(PyObject *self, PyObject *unused)
{
    PaError err;
    Py_BEGIN_ALLOW_THREADS
    err = Pa_StartStream(((Stream *)self)->stream);
    Py_END_ALLOW_THREADS
    if (err < 0) {
        PyErr_SetString(PyExc_IOError, Pa_GetErrorText(err));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *ok_abort_and_check(PyObject *self, PyObject *unused)
{
    PaError active = Pa_IsStreamActive(((Stream *)self)->stream);   // a query: returns at once
    if (active == 1) {
        Py_BEGIN_ALLOW_THREADS
        Pa_AbortStream(((Stream *)self)->stream);
        Py_END_ALLOW_THREADS
    }
    return PyBool_FromLong(active == 1);
}

static PyMethodDef methods[] = {
    {"bad_start_stream", bad_start_stream, METH_NOARGS, NULL},
    {"bad_terminate", bad_terminate, METH_NOARGS, NULL},
    {"ok_start_stream", ok_start_stream, METH_NOARGS, NULL},
    {"ok_abort_and_check", ok_abort_and_check, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
