// libgit2's network calls wait on the server (rules/libs/libgit2.yml): holding the GIL across them stalls every
// Python thread. Declarations stand in for <git2.h>.
#include <Python.h>

typedef struct git_repository git_repository;
typedef struct git_remote git_remote;
typedef struct git_strarray { char **strings; size_t count; } git_strarray;
typedef struct git_clone_options git_clone_options;
typedef struct git_fetch_options git_fetch_options;
int git_clone(git_repository **out, const char *url, const char *local_path, const git_clone_options *options);
int git_remote_fetch(git_remote *remote, const git_strarray *refspecs, const git_fetch_options *opts, const char *reflog_message);

PyObject *bad_clone(PyObject *self, PyObject *args)
{
    const char *url, *path;
    git_repository *repo;
    if (!PyArg_ParseTuple(args, "ss", &url, &path))
        return NULL;
    if (git_clone(&repo, url, path, NULL) < 0)      // expect-warning{{git_clone() may block while this thread holds the GIL}} [blocking-with-gil]
        return NULL;
    return PyCapsule_New(repo, "repo", NULL);
}

PyObject *ok_fetch(git_remote *remote)
{
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = git_remote_fetch(remote, NULL, NULL, NULL);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(err);
}

static PyMethodDef methods[] = {
    {"clone", bad_clone, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};
