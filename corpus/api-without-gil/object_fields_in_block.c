// Reading a Python object's header (type, size) while the GIL is released.
#include <Python.h>
#include <string.h>

extern void log_msg(const char *s);

void bad_type_name_in_block(PyObject *o)
{
    Py_BEGIN_ALLOW_THREADS
    log_msg(Py_TYPE(o)->tp_name);           // expect-error{{Py_TYPE() needs the GIL}} [api-without-gil]
    Py_END_ALLOW_THREADS
}

int bad_type_compare_in_block(PyObject *o)
{
    int is_int;
    Py_BEGIN_ALLOW_THREADS
    is_int = o->ob_type == &PyLong_Type;    // expect-error{{dereference of Python object 'o->ob_type'}} [api-without-gil]
    Py_END_ALLOW_THREADS
    return is_int;
}

void ok_copy_name_first(PyObject *o)
{
    char name[64];
    strncpy(name, Py_TYPE(o)->tp_name, sizeof name - 1);
    name[sizeof name - 1] = '\0';
    Py_BEGIN_ALLOW_THREADS
    log_msg(name);
    Py_END_ALLOW_THREADS
}
