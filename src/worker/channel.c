/*
 * The `_pinion` extension: framed I/O on the worker's end of the socketpair that joins
 * it to the server (docs/internals/worker-protocol.md). A frame is a 4-byte big-endian
 * length and that many bytes of JSON; this module moves whole frames and knows nothing
 * of JSON. It is built against Python's stable ABI (Py_LIMITED_API 3.8), so one .so
 * serves every Python from 3.8 on, and it uses only functions of that ABI.
 *
 * `Channel(fd, poll_us=0)` offers a blocking `recv()` that releases the GIL while it
 * waits and lets Python signal handlers run on EINTR (the server cancels a sync
 * prediction with SIGUSR1), a non-blocking `try_recv()` for the asyncio reader, and a
 * thread-safe `send()` that writes a whole frame under a mutex with the GIL released.
 * Before `recv()` sleeps it polls for up to `poll_us` microseconds, yielding the CPU
 * between tries: under load the next prediction usually arrives within that time, and
 * waking a sleeping process costs more than the prediction (src/core/loop.h).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* The protocol's ceiling on one frame's payload (PN_IPC_FRAME_MAX on the C side). */
#define PN_WORKER_FRAME_MAX (64u * 1024u * 1024u)
#define PN_WORKER_FRAME_MIN 2u
#define PN_WORKER_READ_CHUNK 65536

typedef struct {
    PyObject_HEAD
    int fd;
    /* Bytes read but not yet returned as frames; owned by the channel (PyMem). */
    char *buffer;
    size_t length;
    size_t capacity;
    int eof;
    long poll_us;
    pthread_mutex_t send_lock;
} pn_worker_channel;

static int pn_worker_frame_length(const char *bytes, uint32_t *length) {
    const unsigned char *b = (const unsigned char *)bytes;
    *length = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
    if (*length < PN_WORKER_FRAME_MIN || *length > PN_WORKER_FRAME_MAX) {
        PyErr_Format(PyExc_ValueError, "protocol error: frame length %lu out of bounds",
                     (unsigned long)*length);
        return -1;
    }
    return 0;
}

/*
 * Takes one complete frame off the front of the buffer. Returns a new bytes object
 * (the caller owns it), Py_None (a new reference) when no whole frame is buffered yet,
 * or NULL with an exception set for a frame outside the protocol's bounds.
 */
static PyObject *pn_worker_take_frame(pn_worker_channel *channel) {
    uint32_t length;
    PyObject *frame;
    if (channel->length < 4)
        Py_RETURN_NONE;
    if (pn_worker_frame_length(channel->buffer, &length) < 0)
        return NULL;
    if (channel->length - 4 < length)
        Py_RETURN_NONE;
    frame = PyBytes_FromStringAndSize(channel->buffer + 4, (Py_ssize_t)length);
    if (frame == NULL)
        return NULL;
    channel->length -= 4 + (size_t)length;
    memmove(channel->buffer, channel->buffer + 4 + length, channel->length);
    return frame;
}

/* Makes room for at least `extra` more bytes; 0 on success, -1 with MemoryError set. */
static int pn_worker_reserve(pn_worker_channel *channel, size_t extra) {
    size_t wanted = channel->length + extra;
    size_t capacity = channel->capacity ? channel->capacity : PN_WORKER_READ_CHUNK;
    char *grown;
    if (wanted <= channel->capacity)
        return 0;
    while (capacity < wanted)
        capacity *= 2;
    grown = PyMem_Realloc(channel->buffer, capacity);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    channel->buffer = grown;
    channel->capacity = capacity;
    return 0;
}

/*
 * Reads once from the socket into the buffer. `flags` is 0 (block, GIL released) or
 * MSG_DONTWAIT. Returns the byte count, 0 at end of file, -2 when a non-blocking read
 * found nothing, or -1 with an exception set (including one raised by a signal
 * handler that ran on EINTR).
 */
static Py_ssize_t pn_worker_fill(pn_worker_channel *channel, int flags) {
    ssize_t got;
    int saved;
    if (pn_worker_reserve(channel, PN_WORKER_READ_CHUNK) < 0)
        return -1;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        got = recv(channel->fd, channel->buffer + channel->length,
                   channel->capacity - channel->length, flags);
        saved = errno;
        Py_END_ALLOW_THREADS
        if (got >= 0)
            break;
        if (saved == EINTR) {
            if (PyErr_CheckSignals() < 0)
                return -1;
            continue;
        }
        if (saved == EAGAIN || saved == EWOULDBLOCK)
            return -2;
        errno = saved;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    channel->length += (size_t)got;
    if (got == 0)
        channel->eof = 1;
    return (Py_ssize_t)got;
}

static int64_t pn_worker_now_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/*
 * Polls with non-blocking reads for up to the channel's budget, yielding the CPU
 * between tries. Returns what pn_worker_fill returns; -2 when the budget passed with
 * nothing to read.
 */
static Py_ssize_t pn_worker_poll(pn_worker_channel *channel) {
    int64_t deadline = pn_worker_now_us() + channel->poll_us;
    for (;;) {
        Py_ssize_t got = pn_worker_fill(channel, MSG_DONTWAIT);
        if (got != -2 || pn_worker_now_us() >= deadline)
            return got;
        Py_BEGIN_ALLOW_THREADS
        sched_yield();
        Py_END_ALLOW_THREADS
        if (PyErr_CheckSignals() < 0)
            return -1;
    }
}

static PyObject *pn_worker_channel_recv(PyObject *self, PyObject *unused) {
    pn_worker_channel *channel = (pn_worker_channel *)self;
    for (;;) {
        PyObject *frame = pn_worker_take_frame(channel);
        Py_ssize_t got;
        if (frame != Py_None)
            return frame;
        Py_DECREF(frame);
        if (channel->eof)
            Py_RETURN_NONE;
        got = channel->poll_us > 0 ? pn_worker_poll(channel) : -2;
        if (got == -2)
            got = pn_worker_fill(channel, 0);
        if (got < 0)
            return NULL;
    }
}

static PyObject *pn_worker_channel_try_recv(PyObject *self, PyObject *unused) {
    pn_worker_channel *channel = (pn_worker_channel *)self;
    PyObject *frames = PyList_New(0);
    Py_ssize_t got = 1;
    if (frames == NULL)
        return NULL;
    while (!channel->eof && got > 0) {
        got = pn_worker_fill(channel, MSG_DONTWAIT);
        if (got == -1)
            goto fail;
    }
    for (;;) {
        PyObject *frame = pn_worker_take_frame(channel);
        if (frame == NULL)
            goto fail;
        if (frame == Py_None) {
            Py_DECREF(frame);
            break;
        }
        if (PyList_Append(frames, frame) < 0) {
            Py_DECREF(frame);
            goto fail;
        }
        Py_DECREF(frame);
    }
    if (channel->eof && PyList_Size(frames) == 0) {
        Py_DECREF(frames);
        Py_RETURN_NONE;
    }
    return frames;
fail:
    Py_DECREF(frames);
    return NULL;
}

/* Writes the header and the payload to fd, in one sendmsg when the socket takes it all
 * (so the server wakes once per frame, not twice), retrying on EINTR without running
 * signal handlers so that a handler's exception can never leave half a frame. */
static int pn_worker_write_frame(int fd, const unsigned char *header, const char *bytes,
                                 size_t length) {
    struct iovec parts[2] = {{(void *)header, 4}, {(void *)bytes, length}};
    struct iovec *part = parts;
    int count = 2;
    while (count > 0) {
        struct msghdr message;
        memset(&message, 0, sizeof message);
        message.msg_iov = part;
        message.msg_iovlen = (size_t)count;
        ssize_t put = sendmsg(fd, &message, MSG_NOSIGNAL);
        if (put < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (count > 0 && (size_t)put >= part->iov_len) {
            put -= (ssize_t)part->iov_len;
            part++;
            count--;
        }
        if (count > 0) {
            part->iov_base = (char *)part->iov_base + put;
            part->iov_len -= (size_t)put;
        }
    }
    return 0;
}

static PyObject *pn_worker_channel_send(PyObject *self, PyObject *args) {
    pn_worker_channel *channel = (pn_worker_channel *)self;
    PyObject *payload;
    char *bytes;
    Py_ssize_t size;
    unsigned char header[4];
    int failed = 0;
    int saved = 0;
    if (!PyArg_ParseTuple(args, "S:send", &payload))
        return NULL;
    if (PyBytes_AsStringAndSize(payload, &bytes, &size) < 0)
        return NULL;
    if ((size_t)size < PN_WORKER_FRAME_MIN || (size_t)size > PN_WORKER_FRAME_MAX) {
        PyErr_Format(PyExc_ValueError, "frame of %zd bytes is out of bounds", size);
        return NULL;
    }
    header[0] = (unsigned char)((size_t)size >> 24);
    header[1] = (unsigned char)((size_t)size >> 16);
    header[2] = (unsigned char)((size_t)size >> 8);
    header[3] = (unsigned char)size;
    Py_INCREF(payload); /* keeps `bytes` alive while the GIL is released */
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&channel->send_lock);
    if (pn_worker_write_frame(channel->fd, header, bytes, (size_t)size) < 0) {
        failed = 1;
        saved = errno;
    }
    pthread_mutex_unlock(&channel->send_lock);
    Py_END_ALLOW_THREADS
    Py_DECREF(payload);
    if (failed) {
        errno = saved;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *pn_worker_channel_fileno(PyObject *self, PyObject *unused) {
    return PyLong_FromLong(((pn_worker_channel *)self)->fd);
}

static int pn_worker_channel_init(PyObject *self, PyObject *args, PyObject *kwargs) {
    pn_worker_channel *channel = (pn_worker_channel *)self;
    int fd;
    long poll_us = 0;
    static char *keywords[] = {"fd", "poll_us", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "i|l:Channel", keywords, &fd, &poll_us))
        return -1;
    if (poll_us < 0 || poll_us > 1000000) {
        PyErr_SetString(PyExc_ValueError, "Channel: poll_us must be from 0 to 1000000");
        return -1;
    }
    channel->poll_us = poll_us;
    if (fd < 0) {
        PyErr_SetString(PyExc_ValueError, "Channel: negative file descriptor");
        return -1;
    }
    channel->fd = fd;
    return 0;
}

static PyObject *pn_worker_channel_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    pn_worker_channel *channel = (pn_worker_channel *)alloc(type, 0);
    if (channel == NULL)
        return NULL;
    channel->fd = -1;
    channel->buffer = NULL;
    channel->length = 0;
    channel->capacity = 0;
    channel->eof = 0;
    channel->poll_us = 0;
    pthread_mutex_init(&channel->send_lock, NULL);
    return (PyObject *)channel;
}

/* The channel does not own the fd: the worker's process exit closes it. */
static void pn_worker_channel_dealloc(PyObject *self) {
    pn_worker_channel *channel = (pn_worker_channel *)self;
    PyTypeObject *type = Py_TYPE(self);
    freefunc tp_free = (freefunc)PyType_GetSlot(type, Py_tp_free);
    PyMem_Free(channel->buffer);
    pthread_mutex_destroy(&channel->send_lock);
    tp_free(self);
    Py_DECREF(type);
}

static PyMethodDef pn_worker_channel_methods[] = {
    {"recv", pn_worker_channel_recv, METH_NOARGS,
     "recv() -> bytes | None: the next frame's payload, blocking; None at end of file."},
    {"try_recv", pn_worker_channel_try_recv, METH_NOARGS,
     "try_recv() -> list[bytes] | None: complete frames available now; None at end of file."},
    {"send", pn_worker_channel_send, METH_VARARGS, "send(payload: bytes): writes one frame."},
    {"fileno", pn_worker_channel_fileno, METH_NOARGS, "fileno() -> int"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot pn_worker_channel_slots[] = {
    {Py_tp_new, (void *)pn_worker_channel_new},
    {Py_tp_init, (void *)pn_worker_channel_init},
    {Py_tp_dealloc, (void *)pn_worker_channel_dealloc},
    {Py_tp_methods, pn_worker_channel_methods},
    {Py_tp_doc, "Channel(fd): framed messages on the worker's socket."},
    {0, NULL},
};

static PyType_Spec pn_worker_channel_spec = {
    "_pinion.Channel",
    sizeof(pn_worker_channel),
    0,
    Py_TPFLAGS_DEFAULT,
    pn_worker_channel_slots,
};

static struct PyModuleDef pn_worker_module = {
    PyModuleDef_HEAD_INIT, "_pinion", "pinion's worker extension: framed socket I/O.", -1,
    NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__pinion(void);

PyMODINIT_FUNC PyInit__pinion(void) {
    PyObject *module = PyModule_Create(&pn_worker_module);
    PyObject *type;
    if (module == NULL)
        return NULL;
    type = PyType_FromSpec(&pn_worker_channel_spec);
    if (type == NULL || PyModule_AddObject(module, "Channel", type) < 0) {
        Py_XDECREF(type);
        Py_DECREF(module);
        return NULL;
    }
    if (PyModule_AddIntConstant(module, "FRAME_MAX", (long)PN_WORKER_FRAME_MAX) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
