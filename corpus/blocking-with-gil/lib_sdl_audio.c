// SDL2 and SDL_mixer calls that wait for the audio thread, for events or for time (rules/libs/sdl2.yml,
// sdl2-mixer.yml) made while holding the GIL. With a channel-finished callback that takes the GIL, halting a
// channel with the GIL held deadlocks: the caller waits for the audio lock, the audio thread for the GIL.
// The prototypes are declared here.
#include <Python.h>
#include <stdint.h>

typedef uint32_t Uint32;
typedef uint32_t SDL_AudioDeviceID;
typedef union SDL_Event { Uint32 type; char padding[56]; } SDL_Event;
void SDL_Delay(Uint32 ms);
int SDL_PollEvent(SDL_Event *event);
int SDL_WaitEvent(SDL_Event *event);
void SDL_LockAudioDevice(SDL_AudioDeviceID dev);
void SDL_UnlockAudioDevice(SDL_AudioDeviceID dev);
void SDL_CloseAudioDevice(SDL_AudioDeviceID dev);
typedef struct Mix_Chunk Mix_Chunk;
int Mix_HaltChannel(int channel);
void Mix_FreeChunk(Mix_Chunk *chunk);
int Mix_Playing(int channel);
int Mix_Volume(int channel, int volume);

typedef struct { PyObject_HEAD SDL_AudioDeviceID dev; Mix_Chunk *chunk; int channel; } Player;

static PyObject *bad_stop(PyObject *self, PyObject *unused)
{
    Player *p = (Player *)self;
    Mix_HaltChannel(p->channel);                    // expect-warning{{Mix_HaltChannel() may block while this thread holds the GIL}} [blocking-with-gil]
    Py_RETURN_NONE;
}

static void Player_dealloc(PyObject *self)
{
    Player *p = (Player *)self;
    Mix_FreeChunk(p->chunk);                        // expect-warning{{Mix_FreeChunk() may block}} [blocking-with-gil]
    SDL_CloseAudioDevice(p->dev);                   // expect-warning{{SDL_CloseAudioDevice() may block}} [blocking-with-gil]
    Py_TYPE(self)->tp_free(self);
}

static PyObject *bad_pause_briefly(PyObject *self, PyObject *arg)
{
    long ms = PyLong_AsLong(arg);
    if (ms < 0)
        return NULL;
    SDL_Delay((Uint32)ms);                          // expect-warning{{SDL_Delay() may block}} [blocking-with-gil]
    Py_RETURN_NONE;
}

static PyObject *ok_stop(PyObject *self, PyObject *unused)
{
    Player *p = (Player *)self;
    Py_BEGIN_ALLOW_THREADS
    Mix_HaltChannel(p->channel);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *ok_wait_event(PyObject *self, PyObject *unused)
{
    SDL_Event e;
    int got;
    Py_BEGIN_ALLOW_THREADS
    got = SDL_WaitEvent(&e);
    Py_END_ALLOW_THREADS
    return got ? PyLong_FromUnsignedLong(e.type) : PyErr_Format(PyExc_RuntimeError, "wait failed");
}

/* Polling does not wait; reading the channel state and setting a channel's volume take no lock. */
static PyObject *ok_poll(PyObject *self, PyObject *unused)
{
    Player *p = (Player *)self;
    SDL_Event e;
    if (SDL_PollEvent(&e))
        return PyLong_FromUnsignedLong(e.type);
    Mix_Volume(p->channel, 64);
    return PyBool_FromLong(Mix_Playing(p->channel));
}

static PyMethodDef Player_methods[] = {
    {"stop", bad_stop, METH_NOARGS, NULL},
    {"pause_briefly", bad_pause_briefly, METH_O, NULL},
    {"stop_released", ok_stop, METH_NOARGS, NULL},
    {"wait_event", ok_wait_event, METH_NOARGS, NULL},
    {"poll", ok_poll, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PlayerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "audio.Player",
    .tp_basicsize = sizeof(Player),
    .tp_dealloc = Player_dealloc,
    .tp_methods = Player_methods,
};
