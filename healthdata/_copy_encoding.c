/* Prepared record rows as the rows of a PostgreSQL binary COPY stream, in C.
 *
 * `encode_rows(head, rows)` returns the same bytes as healthdata.copy_encoding._encode_rows, which
 * stays the reference (tests/healthdata/test_copy_encoding.py holds the two to the same output):
 * the signature, then per row the batch's `head` (field count and constant fields) and the 13
 * fields of a prepared row in healthdata.copy_encoding.ROW order, then the trailer. Each field is a
 * 4-byte big-endian length (-1 for NULL) and its value in the type's binary form.
 *
 * Built by setup.py (`make install`); without it the Python encoder runs, only more slowly.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <stdint.h>
#include <string.h>

/* The fields of a prepared row (healthdata.copy_encoding.ROW). */
enum { METRIC, DEVICE, DEVICE_KIND, SOURCE_KEY, START, END, MINUTES, LOCAL_DATE, VALUE, SECONDARY,
       QUALITY, FLAGS, METADATA, ROW_FIELDS };

static const char SIGNATURE[] = "PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
#define SIGNATURE_LENGTH 19
#define POSTGRES_EPOCH_MICROSECONDS 946684800000000LL /* 2000-01-01 in Unix microseconds */
#define POSTGRES_EPOCH_DAYS 10957                     /* 2000-01-01 in days since 1970-01-01 */
#define FIXED_BYTES 96 /* a row's fields from `start` to `flags`: 74 bytes, rounded up */

typedef struct {
    char *data;
    Py_ssize_t size;
    Py_ssize_t capacity;
} Buffer;

static int
reserve(Buffer *buffer, Py_ssize_t more)
{
    if (buffer->size + more <= buffer->capacity)
        return 0;
    Py_ssize_t capacity = buffer->capacity * 2;
    if (capacity < buffer->size + more)
        capacity = buffer->size + more;
    char *data = PyMem_Realloc(buffer->data, capacity);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    buffer->data = data;
    buffer->capacity = capacity;
    return 0;
}

static void
put_32(Buffer *buffer, uint32_t value)
{
    unsigned char *at = (unsigned char *)buffer->data + buffer->size;
    at[0] = value >> 24;
    at[1] = value >> 16;
    at[2] = value >> 8;
    at[3] = value;
    buffer->size += 4;
}

static void
put_64(Buffer *buffer, uint64_t value)
{
    put_32(buffer, (uint32_t)(value >> 32));
    put_32(buffer, (uint32_t)value);
}

static void
put_null(Buffer *buffer)
{
    put_32(buffer, (uint32_t)-1);
}

/* A text field (or, with `version`, a jsonb one: its version byte, then the text). */
static int
put_text(Buffer *buffer, PyObject *text, int version)
{
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "a text field must be str, not %.100s", Py_TYPE(text)->tp_name);
        return -1;
    }
    Py_ssize_t length;
    const char *bytes = PyUnicode_AsUTF8AndSize(text, &length);
    if (bytes == NULL)
        return -1;
    if (length > INT32_MAX - 1) {
        PyErr_SetString(PyExc_OverflowError, "a text field is too long");
        return -1;
    }
    if (reserve(buffer, length + 5 + FIXED_BYTES) < 0)
        return -1;
    put_32(buffer, (uint32_t)(length + (version ? 1 : 0)));
    if (version)
        buffer->data[buffer->size++] = 1;
    memcpy(buffer->data + buffer->size, bytes, length);
    buffer->size += length;
    return 0;
}

static int
put_int8(Buffer *buffer, PyObject *number, long long shift)
{
    long long value = PyLong_AsLongLong(number);
    if (value == -1 && PyErr_Occurred())
        return -1;
    if ((shift > 0 && value < LLONG_MIN + shift) || (shift < 0 && value > LLONG_MAX + shift)) {
        PyErr_SetString(PyExc_OverflowError, "a time is out of range");
        return -1;
    }
    put_32(buffer, 8);
    put_64(buffer, (uint64_t)(value - shift));
    return 0;
}

static int
put_int2(Buffer *buffer, PyObject *number)
{
    long value = PyLong_AsLong(number);
    if (value == -1 && PyErr_Occurred())
        return -1;
    if (value < -32768 || value > 32767) {
        PyErr_SetString(PyExc_OverflowError, "a smallint field is out of range");
        return -1;
    }
    put_32(buffer, 2);
    unsigned char *at = (unsigned char *)buffer->data + buffer->size;
    at[0] = ((uint16_t)value) >> 8;
    at[1] = (uint16_t)value;
    buffer->size += 2;
    return 0;
}

static int
put_float8(Buffer *buffer, PyObject *number)
{
    double value = PyFloat_AsDouble(number);
    if (value == -1.0 && PyErr_Occurred())
        return -1;
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    put_32(buffer, 8);
    put_64(buffer, bits);
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long
days_from_civil(long year, unsigned month, unsigned day)
{
    year -= month <= 2;
    long era = (year >= 0 ? year : year - 399) / 400;
    unsigned year_of_era = (unsigned)(year - era * 400);
    unsigned day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + (long)day_of_era - 719468;
}

static int
put_date(Buffer *buffer, PyObject *day)
{
    if (!PyDate_Check(day)) {
        PyErr_Format(PyExc_TypeError, "local_date must be a date, not %.100s", Py_TYPE(day)->tp_name);
        return -1;
    }
    long days = days_from_civil(PyDateTime_GET_YEAR(day), PyDateTime_GET_MONTH(day), PyDateTime_GET_DAY(day));
    put_32(buffer, 4);
    put_32(buffer, (uint32_t)(int32_t)(days - POSTGRES_EPOCH_DAYS));
    return 0;
}

static int
put_row(Buffer *buffer, const char *head, Py_ssize_t head_length, PyObject *row)
{
    if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != ROW_FIELDS) {
        PyErr_SetString(PyExc_TypeError, "a row must be a tuple of 13 fields (healthdata.copy_encoding.ROW)");
        return -1;
    }
    PyObject **field = &PyTuple_GET_ITEM(row, 0);
    if (reserve(buffer, head_length + FIXED_BYTES) < 0)
        return -1;
    memcpy(buffer->data + buffer->size, head, head_length);
    buffer->size += head_length;
    if (put_text(buffer, field[METRIC], 0) < 0 || put_text(buffer, field[DEVICE], 0) < 0
        || put_text(buffer, field[DEVICE_KIND], 0) < 0 || put_text(buffer, field[SOURCE_KEY], 0) < 0)
        return -1;
    /* put_text reserved FIXED_BYTES beyond the key: room for every field up to the metadata. */
    if (put_int8(buffer, field[START], POSTGRES_EPOCH_MICROSECONDS) < 0
        || put_int8(buffer, field[END], POSTGRES_EPOCH_MICROSECONDS) < 0)
        return -1;
    if (field[MINUTES] == Py_None)
        put_null(buffer);
    else if (put_int2(buffer, field[MINUTES]) < 0)
        return -1;
    if (put_date(buffer, field[LOCAL_DATE]) < 0 || put_float8(buffer, field[VALUE]) < 0)
        return -1;
    if (field[SECONDARY] == Py_None)
        put_null(buffer);
    else if (put_float8(buffer, field[SECONDARY]) < 0)
        return -1;
    if (put_int2(buffer, field[QUALITY]) < 0 || put_int2(buffer, field[FLAGS]) < 0)
        return -1;
    return put_text(buffer, field[METADATA], 1);
}

static PyObject *
encode_rows(PyObject *module, PyObject *args)
{
    Py_buffer head;
    PyObject *rows;
    if (!PyArg_ParseTuple(args, "y*O!:encode_rows", &head, &PyList_Type, &rows))
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(rows);
    Buffer buffer = {NULL, 0, 0};
    PyObject *payload = NULL;
    if (reserve(&buffer, SIGNATURE_LENGTH + 2 + count * (head.len + 192)) < 0)
        goto done;
    memcpy(buffer.data, SIGNATURE, SIGNATURE_LENGTH);
    buffer.size = SIGNATURE_LENGTH;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(rows); i++) {
        PyObject *row = Py_NewRef(PyList_GET_ITEM(rows, i)); /* a number's __index__ could change the list */
        int failed = put_row(&buffer, head.buf, head.len, row);
        Py_DECREF(row);
        if (failed < 0)
            goto done;
    }
    if (reserve(&buffer, 2) < 0)
        goto done;
    buffer.data[buffer.size++] = (char)0xff; /* the trailer: a field count of -1 */
    buffer.data[buffer.size++] = (char)0xff;
    payload = PyBytes_FromStringAndSize(buffer.data, buffer.size);
done:
    PyMem_Free(buffer.data);
    PyBuffer_Release(&head);
    return payload;
}

static PyMethodDef methods[] = {
    {"encode_rows", encode_rows, METH_VARARGS,
     "encode_rows(head, rows) -> bytes: a binary COPY stream of prepared rows, each after `head`."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "healthdata._copy_encoding",
    "Prepared record rows as a PostgreSQL binary COPY stream (healthdata.copy_encoding).", -1, methods,
};

PyMODINIT_FUNC
PyInit__copy_encoding(void)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL)
        return NULL;
    return PyModule_Create(&module);
}
