/* _toolbox: wrappers around C libraries that call back synchronously
 * (qsort, sqlite3_exec, expat, GLPK terminal hook, libcurl progress). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

/* ---- sqlite3.h (subset) ---- */
typedef struct sqlite3 sqlite3;
typedef int (*sqlite3_callback)(void *, int, char **, char **);
int sqlite3_exec(sqlite3 *, const char *sql, int (*callback)(void *, int, char **, char **),
                 void *, char **errmsg);
void sqlite3_free(void *);
#define SQLITE_OK 0
#define SQLITE_ABORT 4
/* ---- expat.h (subset) ---- */
typedef char XML_Char;
typedef struct XML_ParserStruct *XML_Parser;
typedef void (*XML_StartElementHandler)(void *userData, const XML_Char *name, const XML_Char **atts);
typedef void (*XML_EndElementHandler)(void *userData, const XML_Char *name);
typedef void (*XML_CharacterDataHandler)(void *userData, const XML_Char *s, int len);
enum XML_Status { XML_STATUS_ERROR = 0, XML_STATUS_OK = 1, XML_STATUS_SUSPENDED = 2 };
XML_Parser XML_ParserCreate(const XML_Char *encoding);
void XML_ParserFree(XML_Parser parser);
void XML_SetUserData(XML_Parser parser, void *userData);
void XML_SetElementHandler(XML_Parser parser, XML_StartElementHandler start, XML_EndElementHandler end);
void XML_SetCharacterDataHandler(XML_Parser parser, XML_CharacterDataHandler handler);
enum XML_Status XML_Parse(XML_Parser parser, const char *s, int len, int isFinal);
void XML_StopParser(XML_Parser parser, int resumable);
/* ---- glpk.h (subset) ---- */
typedef struct glp_prob glp_prob;
typedef struct {
    int msg_lev, meth, pricing, r_test;
    double tol_bnd, tol_dj, tol_piv, obj_ll, obj_ul;
    int it_lim, tm_lim, out_frq, out_dly, presolve, excl, shift, aorn;
    double foo_bar[33];
} glp_smcp;
#define GLP_MSG_ALL 3
void glp_init_smcp(glp_smcp *parm);
int glp_simplex(glp_prob *P, const glp_smcp *parm);
void glp_term_hook(int (*func)(void *info, const char *s), void *info);
double glp_get_obj_val(glp_prob *P);
/* ---- curl/curl.h (subset) ---- */
typedef void CURL;
typedef int CURLcode;
typedef long long curl_off_t;
#define CURLOPT_NOPROGRESS       43
#define CURLOPT_XFERINFOFUNCTION 20219
#define CURLOPT_XFERINFODATA     10057
CURLcode curl_easy_setopt(CURL *curl, int option, ...);
CURLcode curl_easy_perform(CURL *curl);
const char *curl_easy_strerror(CURLcode);
/* ---- end ---- */

typedef struct {
    PyObject **items;
    PyObject *key;
    int failed;
} SortCtx;

static SortCtx *current_sort;   /* qsort has no user pointer */

static int
bad_cmp_items_nogil(const void *a, const void *b)
{
    PyObject *x = *(PyObject *const *)a;
    PyObject *y = *(PyObject *const *)b;
    int lt = PyObject_RichCompareBool(x, y, Py_LT);
    if (lt < 0) {
        current_sort->failed = 1;
        return 0;
    }
    if (lt)
        return -1;
    return PyObject_RichCompareBool(y, x, Py_LT) > 0 ? 1 : 0;
}

static int
ok_cmp_items_gil(const void *a, const void *b)
{
    PyObject *x = *(PyObject *const *)a;
    PyObject *y = *(PyObject *const *)b;
    int r;

    if (current_sort->failed)
        return 0;
    r = PyObject_RichCompareBool(x, y, Py_LT);
    if (r < 0) {
        current_sort->failed = 1;
        return 0;
    }
    if (r)
        return -1;
    r = PyObject_RichCompareBool(x, y, Py_EQ);
    if (r < 0) {
        current_sort->failed = 1;
        return 0;
    }
    return r ? 0 : 1;
}

static int
ok_cmp_keys_ensure(const void *a, const void *b)
{
    PyObject *x = *(PyObject *const *)a;
    PyObject *y = *(PyObject *const *)b;
    PyGILState_STATE g = PyGILState_Ensure();
    int r = PyObject_RichCompareBool(x, y, Py_LT);
    if (r < 0) {
        current_sort->failed = 1;
        PyErr_Clear();
        r = 0;
    }
    PyGILState_Release(g);
    return r ? -1 : 1;
}

static PyObject *
toolbox_sort(PyObject *mod, PyObject *args)
{
    PyObject *seq, *fast, **items;
    Py_ssize_t n;
    SortCtx ctx;
    int mode = 0;
    (void)mod;

    if (!PyArg_ParseTuple(args, "O|i", &seq, &mode))
        return NULL;
    fast = PySequence_List(seq);
    if (fast == NULL)
        return NULL;
    n = PyList_GET_SIZE(fast);
    items = ((PyListObject *)fast)->ob_item;
    ctx.items = items;
    ctx.key = NULL;
    ctx.failed = 0;
    current_sort = &ctx;
    switch (mode) {
    case 0:
        qsort(items, (size_t)n, sizeof(PyObject *), ok_cmp_items_gil);
        break;
    case 1:
        Py_BEGIN_ALLOW_THREADS
        qsort(items, (size_t)n, sizeof(PyObject *), bad_cmp_items_nogil);
        Py_END_ALLOW_THREADS
        break;
    default:
        Py_BEGIN_ALLOW_THREADS
        qsort(items, (size_t)n, sizeof(PyObject *), ok_cmp_keys_ensure);
        Py_END_ALLOW_THREADS
        break;
    }
    current_sort = NULL;
    if (ctx.failed) {
        Py_DECREF(fast);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "comparison failed");
        return NULL;
    }
    return fast;
}

/* --- sqlite3_exec with a row callback --- */

static int
bad_sqlite_row_cb(void *arg, int ncol, char **values, char **names)
{
    PyObject *rows = (PyObject *)arg;
    PyObject *row = PyDict_New();
    int i;
    if (row == NULL)
        return SQLITE_ABORT;
    for (i = 0; i < ncol; i++) {
        PyObject *v = values[i] ? PyUnicode_FromString(values[i]) : Py_NewRef(Py_None);
        if (v == NULL || PyDict_SetItemString(row, names[i], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(row);
            return SQLITE_ABORT;
        }
        Py_DECREF(v);
    }
    i = PyList_Append(rows, row);
    Py_DECREF(row);
    return i < 0 ? SQLITE_ABORT : 0;
}

static int
ok_sqlite_row_cb_ensure(void *arg, int ncol, char **values, char **names)
{
    PyObject *rows = (PyObject *)arg;
    PyGILState_STATE gs;
    PyObject *tup;
    int i, rc = 0;
    (void)names;

    gs = PyGILState_Ensure();
    tup = PyTuple_New(ncol);
    if (tup == NULL) {
        rc = SQLITE_ABORT;
        goto out;
    }
    for (i = 0; i < ncol; i++) {
        PyObject *v = values[i] ? PyBytes_FromString(values[i]) : Py_NewRef(Py_None);
        if (v == NULL) {
            rc = SQLITE_ABORT;
            goto out;
        }
        PyTuple_SET_ITEM(tup, i, v);
    }
    if (PyList_Append(rows, tup) < 0)
        rc = SQLITE_ABORT;
out:
    Py_XDECREF(tup);
    PyGILState_Release(gs);
    return rc;
}

static PyObject *
toolbox_query(PyObject *mod, PyObject *args)
{
    PyObject *capsule, *rows;
    const char *sql;
    int as_dict = 1, rc;
    char *errmsg = NULL;
    sqlite3 *db;
    (void)mod;

    if (!PyArg_ParseTuple(args, "Os|p", &capsule, &sql, &as_dict))
        return NULL;
    db = PyCapsule_GetPointer(capsule, "sqlite3");
    if (db == NULL)
        return NULL;
    rows = PyList_New(0);
    if (rows == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_exec(db, sql, as_dict ? bad_sqlite_row_cb : ok_sqlite_row_cb_ensure,
                      rows, &errmsg);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_OK) {
        PyErr_SetString(PyExc_RuntimeError, errmsg ? errmsg : "sqlite3_exec failed");
        sqlite3_free(errmsg);
        Py_DECREF(rows);
        return NULL;
    }
    return rows;
}

/* --- expat --- */

typedef struct {
    PyObject *events;
    int error;
    XML_Parser parser;
} ParseState;

static void
ok_expat_start_element(void *ud, const XML_Char *name, const XML_Char **atts)
{
    ParseState *ps = (ParseState *)ud;
    PyObject *attrs, *ev;
    int i;

    if (ps->error)
        return;
    attrs = PyDict_New();
    if (attrs == NULL)
        goto fail;
    for (i = 0; atts[i] != NULL; i += 2) {
        PyObject *v = PyUnicode_FromString(atts[i + 1]);
        if (v == NULL || PyDict_SetItemString(attrs, atts[i], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(attrs);
            goto fail;
        }
        Py_DECREF(v);
    }
    ev = Py_BuildValue("(ssN)", "start", name, attrs);
    if (ev == NULL || PyList_Append(ps->events, ev) < 0) {
        Py_XDECREF(ev);
        goto fail;
    }
    Py_DECREF(ev);
    return;
fail:
    ps->error = 1;
    XML_StopParser(ps->parser, 0);
}

static void
ok_expat_end_element(void *ud, const XML_Char *name)
{
    ParseState *ps = (ParseState *)ud;
    PyObject *ev;
    if (ps->error)
        return;
    ev = Py_BuildValue("(ss)", "end", name);
    if (ev == NULL || PyList_Append(ps->events, ev) < 0)
        ps->error = 1;
    Py_XDECREF(ev);
}

static void
bad_expat_char_data(void *ud, const XML_Char *s, int len)
{
    ParseState *ps = (ParseState *)ud;
    PyObject *ev = Py_BuildValue("(ss#)", "data", s, (Py_ssize_t)len);
    if (ev == NULL || PyList_Append(ps->events, ev) < 0)
        ps->error = 1;
    Py_XDECREF(ev);
}

static PyObject *
toolbox_parse_xml(PyObject *mod, PyObject *args)
{
    Py_buffer buf;
    ParseState ps;
    enum XML_Status st;
    int with_text = 0;
    (void)mod;

    if (!PyArg_ParseTuple(args, "y*|p", &buf, &with_text))
        return NULL;
    ps.events = PyList_New(0);
    ps.error = 0;
    ps.parser = XML_ParserCreate(NULL);
    if (ps.events == NULL || ps.parser == NULL) {
        Py_XDECREF(ps.events);
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    XML_SetUserData(ps.parser, &ps);
    XML_SetElementHandler(ps.parser, ok_expat_start_element, ok_expat_end_element);
    if (!with_text) {
        /* element events only: parse with the GIL held, handlers build objects */
        st = XML_Parse(ps.parser, buf.buf, (int)buf.len, 1);
    }
    else {
        XML_SetElementHandler(ps.parser, NULL, NULL);
        XML_SetCharacterDataHandler(ps.parser, bad_expat_char_data);
        Py_BEGIN_ALLOW_THREADS
        st = XML_Parse(ps.parser, buf.buf, (int)buf.len, 1);
        Py_END_ALLOW_THREADS
    }
    XML_ParserFree(ps.parser);
    PyBuffer_Release(&buf);
    if (st == XML_STATUS_ERROR || ps.error) {
        Py_DECREF(ps.events);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "malformed XML");
        return NULL;
    }
    return ps.events;
}

/* --- GLPK simplex with terminal hook --- */

static int
bad_glpk_term_hook(void *info, const char *s)
{
    PyObject *logger = (PyObject *)info;
    PyObject *r = PyObject_CallMethod(logger, "debug", "s", s);
    Py_XDECREF(r);
    return 1;   /* suppress glpk's own output */
}

static int
ok_glpk_term_hook_gil(void *info, const char *s)
{
    PyObject *logger = (PyObject *)info;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(logger, "info", "s", s);
    if (r == NULL)
        PyErr_Clear();
    else
        Py_DECREF(r);
    PyGILState_Release(st);
    return 1;
}

static PyObject *
toolbox_simplex(PyObject *mod, PyObject *args)
{
    PyObject *capsule, *logger = NULL;
    glp_prob *lp;
    glp_smcp parm;
    int ret, verbose = 0;
    (void)mod;

    if (!PyArg_ParseTuple(args, "O|Op", &capsule, &logger, &verbose))
        return NULL;
    lp = PyCapsule_GetPointer(capsule, "glp_prob");
    if (lp == NULL)
        return NULL;
    glp_init_smcp(&parm);
    parm.msg_lev = GLP_MSG_ALL;
    if (logger != NULL)
        glp_term_hook(verbose ? ok_glpk_term_hook_gil : bad_glpk_term_hook, logger);
    Py_BEGIN_ALLOW_THREADS
    ret = glp_simplex(lp, &parm);
    Py_END_ALLOW_THREADS
    glp_term_hook(NULL, NULL);
    if (ret != 0) {
        PyErr_Format(PyExc_RuntimeError, "glp_simplex failed (%d)", ret);
        return NULL;
    }
    return PyFloat_FromDouble(glp_get_obj_val(lp));
}

/* --- libcurl progress during curl_easy_perform (run without the GIL) --- */

typedef struct {
    PyObject *progress;
    int abort;
} XferCtx;

static int
bad_curl_xferinfo(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
                  curl_off_t ultotal, curl_off_t ulnow)
{
    XferCtx *x = (XferCtx *)clientp;
    PyObject *r;
    int rv = 0;

    r = PyObject_CallFunction(x->progress, "LLLL", dltotal, dlnow, ultotal, ulnow);
    if (r == NULL) {
        PyErr_Clear();
        return 1;
    }
    if (PyObject_IsTrue(r) == 1)
        rv = 1;
    Py_DECREF(r);
    return rv;
}

static int
ok_curl_xferinfo(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
                 curl_off_t ultotal, curl_off_t ulnow)
{
    XferCtx *x = (XferCtx *)clientp;
    PyGILState_STATE gs;
    PyObject *r;
    int rv = 0;

    if (x->abort)
        return 1;
    gs = PyGILState_Ensure();
    r = PyObject_CallFunction(x->progress, "LLLL", dltotal, dlnow, ultotal, ulnow);
    if (r == NULL) {
        PyErr_Print();
        x->abort = 1;
        rv = 1;
    }
    else {
        rv = PyObject_IsTrue(r) == 1;
        Py_DECREF(r);
    }
    PyGILState_Release(gs);
    return rv;
}

static PyObject *
toolbox_perform(PyObject *mod, PyObject *args)
{
    PyObject *capsule, *progress;
    XferCtx ctx;
    CURL *h;
    CURLcode rc;
    int legacy = 0;
    (void)mod;

    if (!PyArg_ParseTuple(args, "OO|p", &capsule, &progress, &legacy))
        return NULL;
    h = PyCapsule_GetPointer(capsule, "CURL");
    if (h == NULL)
        return NULL;
    ctx.progress = progress;
    ctx.abort = 0;
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, legacy ? bad_curl_xferinfo : ok_curl_xferinfo);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &ctx);
    Py_BEGIN_ALLOW_THREADS
    rc = curl_easy_perform(h);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_SetString(PyExc_OSError, curl_easy_strerror(rc));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef toolbox_methods[] = {
    {"sort", toolbox_sort, METH_VARARGS, NULL},
    {"query", toolbox_query, METH_VARARGS, NULL},
    {"parse_xml", toolbox_parse_xml, METH_VARARGS, NULL},
    {"simplex", toolbox_simplex, METH_VARARGS, NULL},
    {"perform", toolbox_perform, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef toolbox_module = {
    PyModuleDef_HEAD_INIT, "_toolbox", NULL, -1, toolbox_methods,
};

PyMODINIT_FUNC
PyInit__toolbox(void)
{
    return PyModule_Create(&toolbox_module);
}
