/* ttlkv._speedups: the two hottest calls of the binding, get and put, without ctypes.
 *
 * A ctypes call costs about a microsecond of argument conversion and dispatch, more than the
 * library spends on a read. This module makes the same C ABI calls from C: it is handed the
 * addresses of ttlkv_get_into and ttlkv_put (the functions the ctypes library already
 * loaded, see _native.py), so it links to nothing and reaches nothing past the C ABI; the
 * types and status codes come from include/ttlkv.h. Like a ctypes CDLL call, every call into
 * the library releases the GIL.
 *
 * It is optional: the wheel builds it when Python's headers are there, and the package falls
 * back to ctypes without it (ttlkv.compiled_binding() says which runs). Built against the
 * limited API of Python 3.8, so one wheel serves every CPython from 3.8 on.
 */
#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x03080000
#include <Python.h>

#include "ttlkv.h"

typedef ttlkv_status (*get_into_fn)(struct ttlkv_store *, const uint8_t *, size_t, const uint8_t *,
                                    size_t, uint8_t *, size_t, size_t *);
typedef ttlkv_status (*put_fn)(struct ttlkv_store *, const uint8_t *, size_t, const uint8_t *,
                               size_t, const uint8_t *, size_t, uint64_t);

static get_into_fn get_into;
static put_fn put;

/* Values up to this size are read into a buffer on the stack, then copied into the result. */
#define STACK_VALUE 4096

/* bind(get_into_address, put_address): the library's functions, from ctypes. */
static PyObject *sp_bind(PyObject *self, PyObject *args) {
    PyObject *g, *p;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO", &g, &p)) {
        return NULL;
    }
    void *ga = PyLong_AsVoidPtr(g);
    if (ga == NULL) {
        return PyErr_Occurred() ? NULL : (PyErr_SetString(PyExc_ValueError, "NULL function"), NULL);
    }
    void *pa = PyLong_AsVoidPtr(p);
    if (pa == NULL) {
        return PyErr_Occurred() ? NULL : (PyErr_SetString(PyExc_ValueError, "NULL function"), NULL);
    }
    get_into = (get_into_fn)ga;
    put = (put_fn)pa;
    Py_RETURN_NONE;
}

/* The store handle (an int address) and the bytes at `args[i]`. */
static int arg_handle(PyObject *args, Py_ssize_t i, struct ttlkv_store **h) {
    PyObject *o = PyTuple_GetItem(args, i);
    if (o == NULL) {
        return -1;
    }
    *h = (struct ttlkv_store *)PyLong_AsVoidPtr(o);
    return (*h == NULL && PyErr_Occurred()) ? -1 : 0;
}

static int arg_bytes(PyObject *args, Py_ssize_t i, const uint8_t **p, size_t *n) {
    PyObject *o = PyTuple_GetItem(args, i);
    char *c;
    Py_ssize_t len;
    if (o == NULL || PyBytes_AsStringAndSize(o, &c, &len) < 0) {
        return -1;
    }
    *p = (const uint8_t *)c;
    *n = (size_t)len;
    return 0;
}

/* get(handle, ns, key): the value (bytes), None when absent, or the failing status (int).
 * The arguments are exact bytes (the callers convert); the tuple keeps them alive while the
 * GIL is released. */
static PyObject *sp_get(PyObject *self, PyObject *args) {
    struct ttlkv_store *h;
    const uint8_t *ns, *key;
    size_t nsl, kl;
    (void)self;
    if (get_into == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "ttlkv._speedups is not bound to the library");
        return NULL;
    }
    if (PyTuple_Size(args) != 3 || arg_handle(args, 0, &h) < 0 || arg_bytes(args, 1, &ns, &nsl) < 0 ||
        arg_bytes(args, 2, &key, &kl) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "get(handle, ns, key)");
        }
        return NULL;
    }
    uint8_t buf[STACK_VALUE];
    size_t len = 0;
    ttlkv_status rc;
    Py_BEGIN_ALLOW_THREADS
    rc = get_into(h, ns, nsl, key, kl, buf, sizeof buf, &len);
    Py_END_ALLOW_THREADS
    if (rc == TTLKV_OK) {
        return PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)len);
    }
    /* Larger: into a bytes object of the size the library said, again while it changes. */
    while (rc == TTLKV_BUFFER_TOO_SMALL) {
        size_t need = len;
        if (need > (size_t)PY_SSIZE_T_MAX) {
            return PyErr_NoMemory();
        }
        PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)need);
        if (out == NULL) {
            return NULL;
        }
        uint8_t *p = (uint8_t *)PyBytes_AsString(out);
        Py_BEGIN_ALLOW_THREADS
        rc = get_into(h, ns, nsl, key, kl, p, need, &len);
        Py_END_ALLOW_THREADS
        if (rc == TTLKV_OK) {
            if (len == need) {
                return out;
            }
            PyObject *shorter = PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)len);
            Py_DECREF(out);
            return shorter;
        }
        Py_DECREF(out);
    }
    if (rc == TTLKV_NOT_FOUND) {
        Py_RETURN_NONE;
    }
    return PyLong_FromUnsignedLong(rc);
}

/* put(handle, ns, key, value, ttl_ms): the status (0 is TTLKV_OK). */
static PyObject *sp_put(PyObject *self, PyObject *args) {
    struct ttlkv_store *h;
    const uint8_t *ns, *key, *value;
    size_t nsl, kl, vl;
    (void)self;
    if (put == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "ttlkv._speedups is not bound to the library");
        return NULL;
    }
    if (PyTuple_Size(args) != 5 || arg_handle(args, 0, &h) < 0 || arg_bytes(args, 1, &ns, &nsl) < 0 ||
        arg_bytes(args, 2, &key, &kl) < 0 || arg_bytes(args, 3, &value, &vl) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "put(handle, ns, key, value, ttl_ms)");
        }
        return NULL;
    }
    unsigned long long ttl = PyLong_AsUnsignedLongLong(PyTuple_GetItem(args, 4));
    if (ttl == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    ttlkv_status rc;
    Py_BEGIN_ALLOW_THREADS
    rc = put(h, ns, nsl, key, kl, value, vl, (uint64_t)ttl);
    Py_END_ALLOW_THREADS
    return PyLong_FromUnsignedLong(rc);
}

static PyMethodDef methods[] = {
    {"bind", sp_bind, METH_VARARGS, "bind(get_into_address, put_address)"},
    {"get", sp_get, METH_VARARGS, "get(handle, ns, key) -> bytes | None | status"},
    {"put", sp_put, METH_VARARGS, "put(handle, ns, key, value, ttl_ms) -> status"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ttlkv._speedups", "get and put without ctypes (see _native.py)", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
