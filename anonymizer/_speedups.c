/*
 * anonymizer._speedups: the per-chunk fast path of the text stream restorer, compiled.
 *
 * Optional. The package builds it when a C compiler is there (see hatch_build.py) and works without it:
 * anonymizer/stream.py holds the same fast path in Python (_feed_bytes), which is the reference, and the tests
 * compare the two feed by feed (tests/stream/test_speedups.py).
 *
 * HoldBase is the base of anonymizer.stream._Hold: its fields are the hold's state (the Python methods read and
 * write them as attributes), and HoldBase.feed_bytes(chunk) is _feed_bytes(hold, chunk), plus what Python does for
 * the usual pieces that it hands on: a piece whose one long run is exactly a token of the map (what
 * Restorer._prefix() and _Hold._book() do, the token written over as stream._fill() writes it), a piece ending in
 * a token cut short (what Restorer._tail() decides after one bisect), and a piece of UTF-8 text that holds no token
 * (what _Hold.push() does with a str). Every other piece that may hold a token, and the hold-back of a word ending
 * not seen before, go back to Python (_Hold._push_ascii and _push_text, Restorer._tail), where the decisions about
 * tokens are made.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    PyObject *text;      /* held input, not yet restored: str, or bytes of ASCII */
    PyObject *before;    /* without a report: the last input restored (only its last character is read) */
    PyObject *log;       /* with a report: input restored since the last search for unknown token shapes */
    PyObject *events;    /* the report's events (a list), or None */
    Py_ssize_t offset;   /* input characters restored so far (with a report) */
    Py_ssize_t due;      /* the offset from which the next search for unknown token shapes is due */
    PyObject *run_map;   /* Pieces.run_map: 256 bytes */
    PyObject *run;       /* Pieces.run: a str of "x" */
    PyObject *ends;      /* Pieces.ends: a dict */
    Py_ssize_t end;      /* Pieces.end */
    PyObject *tail;      /* Pieces.tail: a callable */
    PyObject *originals; /* Pieces.originals: the map, token -> original */
    PyObject *keys;      /* Pieces.keys: every key of the map, lower-case, sorted (a list) */
    Py_ssize_t longest;  /* Pieces.longest: the length of the longest token */
    PyObject *memo;      /* Pieces.memo: hold-backs of word endings (a dict) */
    Py_ssize_t memo_run; /* Pieces.memo_run: the longest run memo knows */
} HoldBase;

static PyObject *str_push_ascii;  /* "_push_ascii" */
static PyObject *str_scan;        /* "_scan" */
static PyObject *str_push_text;   /* "_push_text" */
static PyObject *str_empty;       /* "" */
static PyObject *str_restored;    /* "restored" */

static int
HoldBase_traverse(HoldBase *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->text);
    Py_VISIT(self->before);
    Py_VISIT(self->log);
    Py_VISIT(self->events);
    Py_VISIT(self->run_map);
    Py_VISIT(self->run);
    Py_VISIT(self->ends);
    Py_VISIT(self->tail);
    Py_VISIT(self->originals);
    Py_VISIT(self->keys);
    Py_VISIT(self->memo);
    return 0;
}

static int
HoldBase_clear(HoldBase *self)
{
    Py_CLEAR(self->text);
    Py_CLEAR(self->before);
    Py_CLEAR(self->log);
    Py_CLEAR(self->events);
    Py_CLEAR(self->run_map);
    Py_CLEAR(self->run);
    Py_CLEAR(self->ends);
    Py_CLEAR(self->tail);
    Py_CLEAR(self->originals);
    Py_CLEAR(self->keys);
    Py_CLEAR(self->memo);
    return 0;
}

static void
HoldBase_dealloc(HoldBase *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    HoldBase_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* data through run_map, as a str (what Python's data.translate(run_map).decode() gives) */
static PyObject *
mapped_str(const unsigned char *data, Py_ssize_t n, const unsigned char *table)
{
    PyObject *mapped = PyUnicode_New(n, 127);
    if (mapped == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(mapped);
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = table[data[i]];
    }
    return mapped;
}

/* Where the first run of `need` "x" (through the run map) in d[:n] starts (0 when `need` is 0), or -1. Without a
 * branch per byte: prose is letters of the key alphabet and others in no pattern a branch predictor could learn. */
static Py_ssize_t
first_run(const unsigned char *d, Py_ssize_t n, const unsigned char *table, Py_ssize_t need)
{
    if (need == 0) {
        return 0;
    }
    Py_ssize_t cur = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        cur = (cur + 1) & -(Py_ssize_t)(table[d[i]] == 'x'); /* the run so far, or 0 */
        if (cur >= need) {
            return i + 1 - need;
        }
    }
    return -1;
}

/* text through run_map, as a str: every character that is not ASCII reads "x" (as "?" does through the run map,
 * after Python's text.encode("ascii", "replace")) */
static PyObject *
text_mapped(PyObject *text, const unsigned char *table)
{
    Py_ssize_t size = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *u = PyUnicode_DATA(text);
    PyObject *mapped = PyUnicode_New(size, 127);
    if (mapped == NULL) {
        return NULL;
    }
    Py_UCS1 *m = PyUnicode_1BYTE_DATA(mapped);
    for (Py_ssize_t i = 0; i < size; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, u, i);
        m[i] = ch < 128 ? table[ch] : 'x';
    }
    return mapped;
}

/* The hold-back `known` (borrowed), or when it is NULL Pieces.tail(piece, mapped) (`mapped`: a new reference,
 * stolen; NULL: an error), as a number of characters of a piece of `size`. -1: an error. */
static Py_ssize_t
keep_of(HoldBase *self, PyObject *known, PyObject *piece, PyObject *mapped, Py_ssize_t size)
{
    if (known != NULL) {
        Py_INCREF(known);
    }
    else {
        if (mapped == NULL) {
            return -1;
        }
        PyObject *args[2] = {piece, mapped};
        known = PyObject_Vectorcall(self->tail, args, 2, NULL);
        Py_DECREF(mapped);
        if (known == NULL) {
            return -1;
        }
    }
    Py_ssize_t keep = PyLong_AsSsize_t(known);
    Py_DECREF(known);
    if (keep == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (keep < 0 || keep > size) {
        PyErr_SetString(PyExc_ValueError, "a hold-back longer than the piece");
        return -1;
    }
    return keep;
}

/* The hold-back of a piece that ends in a token cut short: a trailing run of "x" (through the run map; `run`
 * characters, at least Pieces.end and fewer than the longest token less one) that is, whole and lower-cased, a
 * proper prefix of a key, is held (with a bracket before it), as Restorer._tail() decides after one bisect of the
 * keys. 0: another piece; -1: an error. */
static Py_ssize_t
cut_token(HoldBase *self, const unsigned char *d, Py_ssize_t n, Py_ssize_t run)
{
    if (run < self->end || run >= self->longest - 1 || self->keys == NULL || !PyList_CheckExact(self->keys)) {
        return 0;
    }
    PyObject *low = PyUnicode_New(run, 127);
    if (low == NULL) {
        return -1;
    }
    Py_UCS1 *l = PyUnicode_1BYTE_DATA(low);
    for (Py_ssize_t i = 0; i < run; i++) {
        unsigned char ch = d[n - run + i];
        l[i] = ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
    }
    /* bisect_left(keys, low) */
    PyObject *keys = self->keys;
    Py_ssize_t lo = 0, hi = PyList_GET_SIZE(keys);
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        int less = PyObject_RichCompareBool(PyList_GET_ITEM(keys, mid), low, Py_LT);
        if (less < 0) {
            Py_DECREF(low);
            return -1;
        }
        if (less) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    /* a longer key starts with low: keys[lo] does and is longer, or keys[lo + 1] does too */
    int longer = 0;
    Py_ssize_t size = PyList_GET_SIZE(keys);
    if (lo < size && PyUnicode_Check(PyList_GET_ITEM(keys, lo))) {
        PyObject *key = PyList_GET_ITEM(keys, lo);
        Py_ssize_t starts = PyUnicode_Tailmatch(key, low, 0, run, -1);
        if (starts < 0) {
            Py_DECREF(low);
            return -1;
        }
        if (starts) {
            longer = PyUnicode_GET_LENGTH(key) > run;
            if (!longer && lo + 1 < size && PyUnicode_Check(PyList_GET_ITEM(keys, lo + 1))) {
                starts = PyUnicode_Tailmatch(PyList_GET_ITEM(keys, lo + 1), low, 0, run, -1);
                if (starts < 0) {
                    Py_DECREF(low);
                    return -1;
                }
                longer = starts > 0;
            }
        }
    }
    Py_DECREF(low);
    if (!longer) {
        return 0;
    }
    if (run < n) {
        unsigned char before = d[n - run - 1];
        if (before == '[' || before == '{' || before == '<') {
            return run + 1;
        }
    }
    return run;
}

/* How many trailing characters of the piece d[:n] (data) to hold back, when it holds no token before them: what
 * Pieces.ends knows, else Pieces.tail (called with the mapped piece). -1: an error. */
static Py_ssize_t
hold_back(HoldBase *self, PyObject *data, const unsigned char *d, Py_ssize_t n, const unsigned char *table)
{
    if (table[d[n - 1]] == ' ') {
        return 0;
    }
    Py_ssize_t e = self->end < n ? self->end : n;
    PyObject *key = e == n ? Py_NewRef(data) : PyBytes_FromStringAndSize((const char *)d + n - e, e);
    if (key == NULL) {
        return -1;
    }
    PyObject *known = PyDict_GetItemWithError(self->ends, key); /* borrowed */
    Py_DECREF(key);
    Py_ssize_t keep;
    if (known == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        Py_ssize_t run = 0; /* the trailing run of "x" */
        while (run < n && table[d[n - 1 - run]] == 'x') {
            run++;
        }
        /* a word ending seen before: Restorer._memo, by the run and the character before it (the same hold-back as
         * the bisect below gives, when both know it: tried first, the usual case costs no bisect) */
        if (run && run <= self->memo_run && self->memo != NULL && PyDict_CheckExact(self->memo)) {
            PyObject *window = run < n ? PyBytes_FromStringAndSize((const char *)d + n - run - 1, run + 1)
                                       : Py_NewRef(data);
            if (window == NULL) {
                return -1;
            }
            known = PyDict_GetItemWithError(self->memo, window); /* borrowed */
            Py_DECREF(window);
            if (known == NULL && PyErr_Occurred()) {
                return -1;
            }
        }
        if (known == NULL && (keep = cut_token(self, d, n, run)) != 0) {
            return keep; /* (or -1: an error) */
        }
    }
    return keep_of(self, known, data, known != NULL ? NULL : mapped_str(d, n, table), n);
}

/* Account for `done`, the input restored (`chars` characters, as UTF-8 bytes; a new reference, stolen): the report's
 * log and offset, or the last input restored. */
static int
restored(HoldBase *self, PyObject *done, Py_ssize_t chars)
{
    if (self->events == Py_None) {
        Py_XSETREF(self->before, done);
        return 0;
    }
    if (self->log == NULL || !PyList_CheckExact(self->log)) {
        Py_DECREF(done);
        PyErr_SetString(PyExc_TypeError, "the hold's log is not a list");
        return -1;
    }
    int rc = PyList_Append(self->log, done);
    Py_DECREF(done);
    if (rc < 0) {
        return -1;
    }
    self->offset += chars;
    if (self->offset >= self->due) {
        PyObject *args[2] = {(PyObject *)self, Py_False};
        PyObject *r = PyObject_VectorcallMethod(str_scan, args, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        if (r == NULL) {
            return -1;
        }
        Py_DECREF(r);
    }
    return 0;
}

static int
is_ascii(const unsigned char *d, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (d[i] & 0x80) {
            return 0;
        }
    }
    return 1;
}

/* How stream._fill() writes a token's first or last character over (stream._EDGES): a bracket stays, an ASCII
 * letter or digit reads "z"; 0 for any other character (a token that cannot be written over so). */
static char
edge(unsigned char c)
{
    if (c == '<' || c == '>' || c == '[' || c == ']' || c == '{' || c == '}') {
        return (char)c;
    }
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        return 'z';
    }
    return 0;
}

/* The piece d[:n] (UTF-8) holds a run of `need` or more "x" (through the run map) that starts at byte p, before the
 * cut (byte `cut`): when that run, d[p:e], ends before the cut, is the piece's only such run and is, whole, an ASCII
 * token of the map, restore the piece (what Restorer._prefix() and _Hold._book() do for the usual piece).
 * `p_chars`, `cut_chars`: the same places in characters (the report counts characters). Py_NotImplemented (a new
 * reference): any other piece, left to Python. */
static PyObject *
restore_token(HoldBase *self, const unsigned char *d, Py_ssize_t n, const unsigned char *table, Py_ssize_t need,
              Py_ssize_t p, Py_ssize_t cut, Py_ssize_t p_chars, Py_ssize_t cut_chars)
{
    Py_ssize_t e = p + need;
    while (e < n && table[d[e]] == 'x') {
        e++;
    }
    if (e >= cut) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    if (first_run(d + e, n - e, table, need) >= 0) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    for (Py_ssize_t i = p; i < e; i++) {
        if (d[i] & 0x80) {
            Py_RETURN_NOTIMPLEMENTED;
        }
    }
    int report = self->events != Py_None;
    if (self->originals == NULL || !PyDict_CheckExact(self->originals) ||
        (report && !PyList_CheckExact(self->events))) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *token = PyUnicode_DecodeASCII((const char *)d + p, e - p, NULL);
    if (token == NULL) {
        return NULL;
    }
    PyObject *result = NULL, *encoded = NULL, *log = NULL, *event = NULL, *rest = NULL, *done = NULL;
    char first = 0, last = 0, *out;
    Py_ssize_t size;
    PyObject *original = PyDict_GetItemWithError(self->originals, token); /* borrowed */
    if (original == NULL || !PyUnicode_Check(original)) {
        goto python;
    }
    encoded = PyUnicode_AsEncodedString(original, "utf-8", "surrogateescape");
    if (encoded == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            goto error;
        }
        PyErr_Clear(); /* an original holding a lone surrogate: Python's _encode() */
        goto python;
    }
    /* with a report, the token is written over in the log (what stream._fill() gives, as bytes) */
    if (report && !(e - p >= 3 && (first = edge(d[p])) && (last = edge(d[e - 1])))) {
        goto python; /* (a token of another shape: _Hold._book() keeps it aside) */
    }
    /* nothing can fail back to Python from here on: the state changes */
    size = PyBytes_GET_SIZE(encoded);
    result = PyBytes_FromStringAndSize(NULL, p + size + cut - e);
    if (result == NULL) {
        goto error;
    }
    out = PyBytes_AS_STRING(result);
    memcpy(out, d, p);
    memcpy(out + p, PyBytes_AS_STRING(encoded), size);
    memcpy(out + p + size, d + e, cut - e);
    if (cut == n) {
        rest = Py_NewRef(str_empty);
    }
    else if (is_ascii(d + cut, n - cut)) {
        rest = PyBytes_FromStringAndSize((const char *)d + cut, n - cut);
    }
    else { /* text held is counted in characters: a str */
        rest = PyUnicode_DecodeUTF8((const char *)d + cut, n - cut, NULL);
    }
    if (rest == NULL) {
        goto error;
    }
    if (report) {
        Py_ssize_t at = p_chars + self->offset;
        event = Py_BuildValue("(nnOO)", at, at + (e - p), str_restored, token);
        if (event == NULL || PyList_Append(self->events, event) < 0) {
            goto error;
        }
        log = PyBytes_FromStringAndSize(NULL, cut);
        if (log == NULL) {
            goto error;
        }
        char *l = PyBytes_AS_STRING(log);
        memcpy(l, d, p);
        l[p] = first;
        memset(l + p + 1, 'z', e - p - 2);
        l[e - 1] = last;
        memcpy(l + e, d + e, cut - e);
        done = log;
        log = NULL;
    }
    else { /* the last character restored (only it is read) */
        Py_ssize_t last = cut - 1;
        while (last > 0 && (d[last] & 0xC0) == 0x80) {
            last--;
        }
        done = PyBytes_FromStringAndSize((const char *)d + last, cut - last);
        if (done == NULL) {
            goto error;
        }
    }
    Py_XSETREF(self->text, rest);
    rest = NULL;
    if (restored(self, done, cut_chars) < 0) {
        goto error;
    }
    Py_DECREF(token);
    Py_DECREF(encoded);
    Py_XDECREF(event);
    return result;
python:
    if (PyErr_Occurred()) {
        goto error;
    }
    Py_DECREF(token);
    Py_XDECREF(encoded);
    Py_RETURN_NOTIMPLEMENTED;
error:
    Py_DECREF(token);
    Py_XDECREF(encoded);
    Py_XDECREF(result);
    Py_XDECREF(event);
    Py_XDECREF(rest);
    Py_XDECREF(log);
    return NULL;
}

/* The piece data (held text and chunk, UTF-8 that is not all ASCII; a new reference, stolen) decoded and restored
 * as _Hold.push() restores a str: None when it is no valid, complete UTF-8 (the caller's general path decodes it,
 * keeping an incomplete character for the next chunk), and the piece that may hold a token handed to
 * _Hold._push_text(). `held`: whether text was held before. */
static PyObject *
feed_text(HoldBase *self, PyObject *data, int held, const unsigned char *table, Py_ssize_t need)
{
    const char *d = PyBytes_AS_STRING(data);
    Py_ssize_t n = PyBytes_GET_SIZE(data);
    PyObject *text = PyUnicode_DecodeUTF8(d, n, NULL);
    if (text == NULL) {
        Py_DECREF(data);
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            return NULL;
        }
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    Py_ssize_t size = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *u = PyUnicode_DATA(text);
#define MAPPED(i) (PyUnicode_READ(kind, u, (i)) < 128 ? table[PyUnicode_READ(kind, u, (i))] : 'x')
    /* where the first run of `need` "x" starts, if any (every character that is not ASCII reads "x", as "?" does
     * through the run map): the piece may hold a token there */
    Py_ssize_t p = need ? -1 : 0;
    Py_ssize_t cur = 0;
    for (Py_ssize_t i = 0; i < size && p < 0; i++) {
        cur = (cur + 1) & -(Py_ssize_t)(MAPPED(i) == 'x'); /* (see first_run) */
        if (cur >= need) {
            p = i + 1 - need;
        }
    }
    PyObject *mapped = NULL;
    PyObject *out = NULL;
    Py_ssize_t keep = 0;
    if (need && MAPPED(size - 1) != ' ') {
        Py_ssize_t e = self->end < size ? self->end : size;
        PyObject *key = PyUnicode_Substring(text, size - e, size);
        if (key == NULL) {
            goto error;
        }
        PyObject *known = PyDict_GetItemWithError(self->ends, key); /* borrowed */
        Py_DECREF(key);
        if (known == NULL && PyErr_Occurred()) {
            goto error;
        }
        keep = keep_of(self, known, text, known != NULL ? NULL : text_mapped(text, table), size);
        if (keep < 0) {
            goto error;
        }
    }
    if (p >= 0 && (!need || p < size - keep)) { /* a token may start before the cut */
        if (need) {
            /* the places in bytes: the start of the run, and the cut */
            Py_ssize_t pb = 0, cutb = n, chars = 0;
            for (Py_ssize_t i = 0; i < n; i++) {
                if ((d[i] & 0xC0) != 0x80) {
                    if (chars == p) {
                        pb = i;
                    }
                    if (chars == size - keep) {
                        cutb = i;
                        break;
                    }
                    chars++;
                }
            }
            out = restore_token(self, (const unsigned char *)d, n, table, need, pb, cutb, p, size - keep);
            if (out != Py_NotImplemented) {
                Py_DECREF(text);
                Py_DECREF(data);
                return out;
            }
            Py_DECREF(out);
        }
        mapped = text_mapped(text, table);
        if (mapped == NULL) {
            goto error;
        }
        PyObject *args[3] = {(PyObject *)self, text, mapped};
        out = PyObject_VectorcallMethod(str_push_text, args, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        Py_DECREF(mapped);
        Py_DECREF(text);
        Py_DECREF(data);
        return out;
    }
#undef MAPPED
    if (keep == size) {
        Py_XSETREF(self->text, text);
        Py_DECREF(data);
        return PyBytes_FromStringAndSize(NULL, 0);
    }
    if (keep) {
        PyObject *rest = PyUnicode_Substring(text, size - keep, size);
        if (rest == NULL) {
            goto error;
        }
        Py_XSETREF(self->text, rest);
        /* the bytes of the characters restored: back over `keep` characters from the end (UTF-8 continuation bytes) */
        Py_ssize_t pos = n;
        for (Py_ssize_t k = 0; k < keep; k++) {
            do {
                pos--;
            } while (pos > 0 && ((unsigned char)d[pos] & 0xC0) == 0x80);
        }
        out = PyBytes_FromStringAndSize(d, pos);
        Py_DECREF(data);
        if (out == NULL) {
            Py_DECREF(text);
            return NULL;
        }
    }
    else {
        if (held) {
            Py_XSETREF(self->text, Py_NewRef(str_empty));
        }
        out = data;
    }
    Py_DECREF(text);
    /* the log keeps the input restored as its UTF-8 bytes (stream._joined() decodes the batch) */
    Py_INCREF(out);
    if (restored(self, out, size - keep) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
error:
    Py_XDECREF(mapped);
    Py_DECREF(text);
    Py_DECREF(data);
    return NULL;
}

/* feed_bytes(chunk: bytes) -> bytes | None: _feed_bytes() in anonymizer/stream.py, and the usual piece that holds
 * a token restored here too (restore_token), and a piece of UTF-8 text that is not ASCII (feed_text). */
static PyObject *
HoldBase_feed_bytes(HoldBase *self, PyObject *chunk)
{
    if (!PyBytes_CheckExact(chunk)) {
        PyErr_SetString(PyExc_TypeError, "feed_bytes() takes bytes");
        return NULL;
    }
    if (self->text == NULL || self->run_map == NULL || self->run == NULL || self->ends == NULL ||
        self->tail == NULL || self->events == NULL || !PyBytes_CheckExact(self->run_map) ||
        PyBytes_GET_SIZE(self->run_map) != 256 || !PyUnicode_Check(self->run) || !PyDict_CheckExact(self->ends)) {
        PyErr_SetString(PyExc_TypeError, "feed_bytes() on a hold that is not set up");
        return NULL;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(chunk);
    const unsigned char *c = (const unsigned char *)PyBytes_AS_STRING(chunk);
    if (size == 0) {
        Py_RETURN_NONE;
    }
    int ascii = 1;
    for (Py_ssize_t i = 0; i < size; i++) {
        if (c[i] & 0x80) {
            ascii = 0;
            break;
        }
    }
    /* the held text as bytes (UTF-8): ASCII bytes, or a str */
    PyObject *held = self->text;
    Py_ssize_t held_size;
    const char *held_bytes;
    if (PyUnicode_Check(held)) {
        if (PyUnicode_IS_ASCII(held)) {
            held_size = PyUnicode_GET_LENGTH(held);
            held_bytes = (const char *)PyUnicode_1BYTE_DATA(held);
        }
        else {
            ascii = 0;
            held_bytes = PyUnicode_AsUTF8AndSize(held, &held_size);
            if (held_bytes == NULL) { /* (lone surrogates: the escaped bytes of invalid input) */
                if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
                    return NULL;
                }
                PyErr_Clear();
                Py_RETURN_NONE;
            }
        }
    }
    else if (PyBytes_Check(held)) {
        held_size = PyBytes_GET_SIZE(held);
        held_bytes = PyBytes_AS_STRING(held);
    }
    else {
        PyErr_SetString(PyExc_TypeError, "the held text is neither str nor bytes");
        return NULL;
    }
    PyObject *data; /* a new reference */
    if (held_size) {
        data = PyBytes_FromStringAndSize(NULL, held_size + size);
        if (data == NULL) {
            return NULL;
        }
        char *buf = PyBytes_AS_STRING(data);
        memcpy(buf, held_bytes, held_size);
        memcpy(buf + held_size, c, size);
    }
    else {
        data = Py_NewRef(chunk);
    }
    const unsigned char *table = (const unsigned char *)PyBytes_AS_STRING(self->run_map);
    Py_ssize_t need = PyUnicode_GET_LENGTH(self->run);
    if (!ascii) {
        return feed_text(self, data, held_size > 0, table, need);
    }
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t n = PyBytes_GET_SIZE(data);
    /* where the first run of `need` "x" starts, if any: the piece may hold a token there */
    Py_ssize_t p = first_run(d, n, table, need);
    Py_ssize_t keep = 0;
    if (need) {
        keep = hold_back(self, data, d, n, table);
        if (keep < 0) {
            Py_DECREF(data);
            return NULL;
        }
    }
    if (p >= 0 && (!need || p < n - keep)) { /* a token may start before the cut */
        PyObject *out = need ? restore_token(self, d, n, table, need, p, n - keep, p, n - keep)
                             : Py_NewRef(Py_NotImplemented);
        if (out != Py_NotImplemented) {
            Py_DECREF(data);
            return out;
        }
        Py_DECREF(out);
        PyObject *mapped = mapped_str(d, n, table);
        if (mapped == NULL) {
            Py_DECREF(data);
            return NULL;
        }
        PyObject *args[3] = {(PyObject *)self, data, mapped};
        out = PyObject_VectorcallMethod(str_push_ascii, args, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        Py_DECREF(mapped);
        Py_DECREF(data);
        return out;
    }
    if (keep) {
        if (keep == n) {
            Py_XSETREF(self->text, data);
            return PyBytes_FromStringAndSize(NULL, 0);
        }
        PyObject *rest = PyBytes_FromStringAndSize((const char *)d + n - keep, keep);
        PyObject *head = rest == NULL ? NULL : PyBytes_FromStringAndSize((const char *)d, n - keep);
        Py_DECREF(data);
        if (head == NULL) {
            Py_XDECREF(rest);
            return NULL;
        }
        Py_XSETREF(self->text, rest);
        data = head;
    }
    else if (held_size) {
        Py_XSETREF(self->text, Py_NewRef(str_empty));
    }
    Py_INCREF(data);
    if (restored(self, data, PyBytes_GET_SIZE(data)) < 0) {
        Py_DECREF(data);
        return NULL;
    }
    return data;
}

static PyMethodDef HoldBase_methods[] = {
    {"feed_bytes", (PyCFunction)HoldBase_feed_bytes, METH_O,
     "feed_bytes(chunk, /)\n--\n\nThe text stream's fast path for a chunk of bytes: the restored bytes that are "
     "final, or None when the chunk is empty, or it and the held text are no complete, valid UTF-8 (the caller takes "
     "the general path)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef HoldBase_members[] = {
    {"text", T_OBJECT_EX, offsetof(HoldBase, text), 0, NULL},
    {"_before", T_OBJECT_EX, offsetof(HoldBase, before), 0, NULL},
    {"_log", T_OBJECT_EX, offsetof(HoldBase, log), 0, NULL},
    {"_events", T_OBJECT_EX, offsetof(HoldBase, events), 0, NULL},
    {"offset", T_PYSSIZET, offsetof(HoldBase, offset), 0, NULL},
    {"_due", T_PYSSIZET, offsetof(HoldBase, due), 0, NULL},
    {"_run_map", T_OBJECT_EX, offsetof(HoldBase, run_map), 0, NULL},
    {"_run", T_OBJECT_EX, offsetof(HoldBase, run), 0, NULL},
    {"_ends", T_OBJECT_EX, offsetof(HoldBase, ends), 0, NULL},
    {"_end", T_PYSSIZET, offsetof(HoldBase, end), 0, NULL},
    {"_tail", T_OBJECT_EX, offsetof(HoldBase, tail), 0, NULL},
    {"_originals", T_OBJECT_EX, offsetof(HoldBase, originals), 0, NULL},
    {"_keys", T_OBJECT_EX, offsetof(HoldBase, keys), 0, NULL},
    {"_longest", T_PYSSIZET, offsetof(HoldBase, longest), 0, NULL},
    {"_memo", T_OBJECT_EX, offsetof(HoldBase, memo), 0, NULL},
    {"_memo_run", T_PYSSIZET, offsetof(HoldBase, memo_run), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot HoldBase_slots[] = {
    {Py_tp_doc, "The state of a stream hold, and its fast path (see anonymizer.stream._Hold)."},
    {Py_tp_traverse, HoldBase_traverse},
    {Py_tp_clear, HoldBase_clear},
    {Py_tp_dealloc, HoldBase_dealloc},
    {Py_tp_methods, HoldBase_methods},
    {Py_tp_members, HoldBase_members},
    {0, NULL},
};

static PyType_Spec HoldBase_spec = {
    .name = "anonymizer._speedups.HoldBase",
    .basicsize = sizeof(HoldBase),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = HoldBase_slots,
};

static int
speedups_exec(PyObject *module)
{
    if (str_push_ascii == NULL) {  /* (once per process: a module may be executed again) */
        str_push_ascii = PyUnicode_InternFromString("_push_ascii");
        str_scan = PyUnicode_InternFromString("_scan");
        str_push_text = PyUnicode_InternFromString("_push_text");
        str_empty = PyUnicode_FromStringAndSize("", 0);
        str_restored = PyUnicode_InternFromString("restored");
    }
    if (str_push_ascii == NULL || str_scan == NULL || str_push_text == NULL || str_empty == NULL ||
        str_restored == NULL) {
        return -1;
    }
    PyObject *type = PyType_FromModuleAndSpec(module, &HoldBase_spec, NULL);
    if (type == NULL) {
        return -1;
    }
    int rc = PyModule_AddObjectRef(module, "HoldBase", type);
    Py_DECREF(type);
    return rc;
}

static PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, speedups_exec},
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "anonymizer._speedups",
    .m_doc = "The text stream restorer's per-chunk fast path, compiled (optional; see anonymizer/stream.py).",
    .m_size = 0,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
