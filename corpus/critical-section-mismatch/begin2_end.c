// gilcheck-args: -I../include
// A two-object section closed by the one-object END (or the reverse), or an outer section ended first: it
// compiles on GIL builds, where the macros are braces, and unlocks the wrong mutexes on free-threaded ones.
#include "freethreading_api.h"

typedef struct Node { PyObject_HEAD struct Node *next; PyObject *value; } Node;

static void bad_swap_values(Node *list, Node *a, Node *b)
{
    Py_BEGIN_CRITICAL_SECTION(list);
    Py_BEGIN_CRITICAL_SECTION2(a, b);
    PyObject *t = a->value;
    a->value = b->value;
    b->value = t;
    Py_END_CRITICAL_SECTION();                // expect-error{{the innermost one open is the two-object critical section '_py_cs2'}} [critical-section-mismatch]
    Py_END_CRITICAL_SECTION();
}

static void bad_end_base_of_pair(Node *a, Node *b)
{
    PyCriticalSection2 cs;
    PyCriticalSection2_Begin(&cs, (PyObject *)a, (PyObject *)b);
    a->next = b;
    PyCriticalSection_End(&cs._base);         // expect-error{{ends a critical section, but the innermost one open}} [critical-section-mismatch]
}

static void bad_outer_first(Node *list, Node *a, Node *b)
{
    PyCriticalSection outer;
    PyCriticalSection2 inner;
    PyCriticalSection_Begin(&outer, (PyObject *)list);
    PyCriticalSection2_Begin(&inner, (PyObject *)a, (PyObject *)b);
    a->next = b;
    PyCriticalSection_End(&outer);            // expect-error{{the innermost one open}} [critical-section-mismatch]
    PyCriticalSection2_End(&inner);
}

static void ok_nested(Node *list, Node *a, Node *b)
{
    Py_BEGIN_CRITICAL_SECTION(list);
    Py_BEGIN_CRITICAL_SECTION2(a, b);
    a->next = b;
    Py_END_CRITICAL_SECTION2();
    list->next = a;
    Py_END_CRITICAL_SECTION();
}

static void ok_pair_function_form(Node *a, Node *b)
{
    PyCriticalSection2 cs;
    PyCriticalSection2_Begin(&cs, (PyObject *)a, (PyObject *)b);
    a->next = b;
    PyCriticalSection2_End(&cs);
}
