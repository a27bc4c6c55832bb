// OpenSSL calls that wait for the peer or keep the CPU for seconds (rules/libs/openssl.yml) made while holding
// the GIL, and the same calls with the GIL released. The prototypes are declared here.
#include <Python.h>

typedef struct ssl_st SSL;
typedef struct rsa_st RSA;
typedef struct bignum_st BIGNUM;
typedef struct bn_gencb_st BN_GENCB;
typedef struct evp_md_st EVP_MD;
int SSL_connect(SSL *ssl);
int SSL_read(SSL *ssl, void *buf, int num);
int SSL_write_ex(SSL *ssl, const void *buf, size_t num, size_t *written);
int SSL_pending(const SSL *ssl);
int SSL_get_error(const SSL *ssl, int ret);
int RSA_generate_key_ex(RSA *rsa, int bits, BIGNUM *e, BN_GENCB *cb);
int PKCS5_PBKDF2_HMAC(const char *pass, int passlen, const unsigned char *salt, int saltlen, int iter,
                      const EVP_MD *digest, int keylen, unsigned char *out);
const EVP_MD *EVP_sha256(void);

typedef struct { PyObject_HEAD SSL *ssl; RSA *rsa; BIGNUM *e; } Tls;

static PyObject *bad_handshake(PyObject *self, PyObject *unused)
{
    Tls *t = (Tls *)self;
    int rc = SSL_connect(t->ssl);                   // expect-warning{{SSL_connect() may block while this thread holds the GIL}} [blocking-with-gil]
    if (rc <= 0)
        return PyErr_Format(PyExc_OSError, "handshake failed: %d", SSL_get_error(t->ssl, rc));
    Py_RETURN_NONE;
}

static PyObject *bad_recv(PyObject *self, PyObject *arg)
{
    Tls *t = (Tls *)self;
    Py_ssize_t size = PyLong_AsSsize_t(arg);
    if (size < 0)
        return NULL;
    PyObject *buf = PyBytes_FromStringAndSize(NULL, size);
    if (buf == NULL)
        return NULL;
    int n = SSL_read(t->ssl, PyBytes_AS_STRING(buf), (int)size);   // expect-warning{{SSL_read() may block}} [blocking-with-gil]
    if (n <= 0) {
        Py_DECREF(buf);
        return PyErr_Format(PyExc_OSError, "read failed");
    }
    _PyBytes_Resize(&buf, n);
    return buf;
}

/* Seconds of CPU with every other Python thread stalled. */
static PyObject *bad_generate_key(PyObject *self, PyObject *arg)
{
    Tls *t = (Tls *)self;
    int bits = (int)PyLong_AsLong(arg);
    if (bits == -1 && PyErr_Occurred())
        return NULL;
    if (!RSA_generate_key_ex(t->rsa, bits, t->e, NULL))   // expect-warning{{RSA_generate_key_ex() may block}} [blocking-with-gil]
        return PyErr_Format(PyExc_ValueError, "key generation failed");
    Py_RETURN_NONE;
}

static PyObject *bad_derive(PyObject *self, PyObject *args)
{
    const char *password, *salt;
    Py_ssize_t plen, slen;
    int iterations;
    if (!PyArg_ParseTuple(args, "s#s#i", &password, &plen, &salt, &slen, &iterations))
        return NULL;
    unsigned char key[32];
    if (!PKCS5_PBKDF2_HMAC(password, (int)plen, (const unsigned char *)salt, (int)slen, iterations,   // expect-warning{{PKCS5_PBKDF2_HMAC() may block}} [blocking-with-gil]
                           EVP_sha256(), sizeof key, key))
        return PyErr_Format(PyExc_ValueError, "derivation failed");
    return PyBytes_FromStringAndSize((const char *)key, sizeof key);
}

static PyObject *ok_send(PyObject *self, PyObject *arg)
{
    Tls *t = (Tls *)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    size_t written = 0;
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = SSL_write_ex(t->ssl, view.buf, (size_t)view.len, &written);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (!ok)
        return PyErr_Format(PyExc_OSError, "write failed");
    return PyLong_FromSize_t(written);
}

static PyObject *ok_derive(PyObject *self, PyObject *args)
{
    const char *password, *salt;
    Py_ssize_t plen, slen;
    int iterations, ok;
    if (!PyArg_ParseTuple(args, "s#s#i", &password, &plen, &salt, &slen, &iterations))
        return NULL;
    unsigned char key[32];
    Py_BEGIN_ALLOW_THREADS
    ok = PKCS5_PBKDF2_HMAC(password, (int)plen, (const unsigned char *)salt, (int)slen, iterations,
                           EVP_sha256(), sizeof key, key);
    Py_END_ALLOW_THREADS
    if (!ok)
        return PyErr_Format(PyExc_ValueError, "derivation failed");
    return PyBytes_FromStringAndSize((const char *)key, sizeof key);
}

/* How much decrypted data is buffered: no I/O. */
static PyObject *ok_pending(PyObject *self, PyObject *unused)
{
    return PyLong_FromLong(SSL_pending(((Tls *)self)->ssl));
}

static PyMethodDef Tls_methods[] = {
    {"handshake", bad_handshake, METH_NOARGS, NULL},
    {"recv", bad_recv, METH_O, NULL},
    {"generate_key", bad_generate_key, METH_O, NULL},
    {"derive", bad_derive, METH_VARARGS, NULL},
    {"send", ok_send, METH_O, NULL},
    {"derive_released", ok_derive, METH_VARARGS, NULL},
    {"pending", ok_pending, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
