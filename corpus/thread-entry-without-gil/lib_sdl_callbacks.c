// Callbacks that SDL2 and SDL_mixer call on their own threads (rules/libs/sdl2.yml, sdl2-mixer.yml): the audio
// callback of the SDL_AudioSpec, timer callbacks, thread functions and the mixer's hooks. Each starts without the
// GIL. The prototypes are declared here.
#include <Python.h>
#include <stdint.h>

typedef uint8_t Uint8;
typedef uint16_t Uint16;
typedef uint32_t Uint32;
typedef void (*SDL_AudioCallback)(void *userdata, Uint8 *stream, int len);
typedef struct SDL_AudioSpec {
    int freq;
    Uint16 format;
    Uint8 channels;
    Uint8 silence;
    Uint16 samples;
    Uint16 padding;
    Uint32 size;
    SDL_AudioCallback callback;
    void *userdata;
} SDL_AudioSpec;
int SDL_OpenAudio(SDL_AudioSpec *desired, SDL_AudioSpec *obtained);
Uint32 SDL_OpenAudioDevice(const char *device, int iscapture, const SDL_AudioSpec *desired, SDL_AudioSpec *obtained,
                           int allowed_changes);
typedef Uint32 (*SDL_TimerCallback)(Uint32 interval, void *param);
int SDL_AddTimer(Uint32 interval, SDL_TimerCallback callback, void *param);
typedef struct SDL_Thread SDL_Thread;
typedef int (*SDL_ThreadFunction)(void *data);
SDL_Thread *SDL_CreateThread(SDL_ThreadFunction fn, const char *name, void *data);
typedef void (*Mix_EffectFunc_t)(int chan, void *stream, int len, void *udata);
typedef void (*Mix_EffectDone_t)(int chan, void *udata);
int Mix_RegisterEffect(int chan, Mix_EffectFunc_t f, Mix_EffectDone_t d, void *arg);
void Mix_ChannelFinished(void (*channel_finished)(int channel));
void Mix_HookMusicFinished(void (*music_finished)(void));

static PyObject *on_fill, *on_tick, *on_finished;

static void bad_fill(void *userdata, Uint8 *stream, int len)
{
    PyObject *r = PyObject_CallFunction(on_fill, "i", len);   // expect-error{{registered with SDL_OpenAudio() at lib_sdl_callbacks.c:101, which calls it on SDL's audio thread}} [thread-entry-without-gil]
    Py_XDECREF(r);
}

static void ok_fill(void *userdata, Uint8 *stream, int len)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(on_fill, "i", len);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
    PyGILState_Release(st);
}

static Uint32 bad_tick(Uint32 interval, void *param)
{
    PyObject *r = PyObject_CallNoArgs(on_tick);    // expect-error{{registered with SDL_AddTimer() at lib_sdl_callbacks.c:107, which calls it on SDL's timer thread}} [thread-entry-without-gil]
    Py_XDECREF(r);
    return interval;
}

static int bad_loader(void *data)
{
    PyObject *path = PyUnicode_FromString((const char *)data);   // expect-error{{started by SDL_CreateThread() at lib_sdl_callbacks.c:108}} [thread-entry-without-gil]
    Py_XDECREF(path);
    return 0;
}

static void bad_echo(int chan, void *stream, int len, void *udata)
{
    PyObject *r = PyObject_CallFunction((PyObject *)udata, "ii", chan, len);   // expect-error{{registered with Mix_RegisterEffect() at lib_sdl_callbacks.c:109, which calls it on SDL's audio thread}} [thread-entry-without-gil]
    Py_XDECREF(r);
}

static void echo_done(int chan, void *udata)
{
    (void)chan;
    (void)udata;
}

static void bad_channel_done(int channel)
{
    PyObject *r = PyObject_CallFunction(on_finished, "i", channel);   // expect-error{{registered with Mix_ChannelFinished() at lib_sdl_callbacks.c:110, which calls it on SDL's audio thread when a channel ends}} [thread-entry-without-gil]
    Py_XDECREF(r);
}

static void ok_music_done(void)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(on_finished);
    Py_XDECREF(r);
    PyGILState_Release(st);
}

int start_audio(PyObject *effect_target)
{
    SDL_AudioSpec want = {0}, have;
    want.freq = 48000;
    want.channels = 2;
    want.samples = 1024;
    want.callback = bad_fill;
    if (SDL_OpenAudio(&want, &have) < 0)
        return -1;
    SDL_AudioSpec spec = {.freq = 48000, .channels = 2, .samples = 512, .callback = ok_fill};
    Uint32 dev = SDL_OpenAudioDevice(NULL, 0, &spec, NULL, 0);
    if (dev == 0)
        return -1;
    SDL_AddTimer(100, bad_tick, NULL);
    SDL_CreateThread(bad_loader, "loader", "assets/level1.dat");
    Mix_RegisterEffect(0, bad_echo, echo_done, effect_target);
    Mix_ChannelFinished(bad_channel_done);
    Mix_HookMusicFinished(ok_music_done);
    return 0;
}
