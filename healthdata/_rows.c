/* Record rows in C: the hot loops of a large import, each held to its Python reference.
 *
 * - `prepare(records, rows, rejected, rule, one)` is healthdata.prepare.Preparer.prepare's loop
 *   (tests/healthdata/test_prepare_in_c.py). It prepares the usual quantity sample itself (a
 *   TimedRecord of a known metric and unit, with a UTC offset, in range, and with no metadata to
 *   merge into a converted value's) and hands every other record to `one`, the Python preparer.
 * - `encode_rows(head, rows)` returns the same bytes as healthdata.copy_encoding._encode_rows
 *   (tests/healthdata/test_copy_encoding.py): the signature, then per row the batch's `head` (field
 *   count and constant fields) and the 13 fields of a prepared row in healthdata.copy_encoding.ROW
 *   order, then the trailer. Each field is a 4-byte big-endian length (-1 for NULL) and its value
 *   in the type's binary form.
 *
 * Built by setup.py (`make install`); without it Python does the same, only more slowly.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <math.h>
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

/* ---- preparing ---------------------------------------------------------------------------------- */

/* The TimedRecord fields, in order (healthdata.normalized.TimedRecord). */
enum { T_METRIC, T_VALUE, T_UNIT, T_START, T_END, T_START_OFFSET, T_START_DAY, T_END_OFFSET, T_END_DAY,
       T_SOURCE_KEY, T_DEVICE, T_DEVICE_KIND, T_METADATA, TIMED_FIELDS };
#define RULES_REMEMBERED 16
#define DEVICE_MAX 128 /* healthdata.prepare keeps this many characters of a device's name */

/* What `configure` was given: the types and values healthdata.prepare uses. */
static PyTypeObject *timed_record_type;
static PyObject *invalid_record_type;
static PyObject *metadata_text;
static PyObject *empty_metadata_text; /* "{}" */
static PyObject *reason_name;         /* "reason" */
static long edge_of_range, converted, low_quality, low_quality_flag;

/* A Rule (healthdata.prepare.Rule) read once per batch, by the record fields it was made for. */
typedef struct {
    PyObject *metric, *unit, *device_kind; /* the record's, held: the look-up is by identity */
    PyObject *code, *kind, *original_text; /* held */
    double factor, offset, low, high, usual_low, usual_high;
    int identity, on_end_day;
    long points, edge_quality;
} Rule;

static void
forget_rules(Rule *rules, int count)
{
    for (int i = 0; i < count; i++) {
        Py_XDECREF(rules[i].metric);
        Py_XDECREF(rules[i].unit);
        Py_XDECREF(rules[i].device_kind);
        Py_XDECREF(rules[i].code);
        Py_XDECREF(rules[i].kind);
        Py_XDECREF(rules[i].original_text);
    }
}

static int
read_number(PyObject *rule, const char *name, double *number)
{
    PyObject *value = PyObject_GetAttrString(rule, name);
    if (value == NULL)
        return -1;
    *number = PyFloat_AsDouble(value);
    Py_DECREF(value);
    return (*number == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

static int
read_integer(PyObject *rule, const char *name, long *integer)
{
    PyObject *value = PyObject_GetAttrString(rule, name);
    if (value == NULL)
        return -1;
    *integer = PyLong_AsLong(value);
    Py_DECREF(value);
    return (*integer == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int
read_flag(PyObject *rule, const char *name, int *flag)
{
    PyObject *value = PyObject_GetAttrString(rule, name);
    if (value == NULL)
        return -1;
    *flag = PyObject_IsTrue(value);
    Py_DECREF(value);
    return *flag < 0 ? -1 : 0;
}

/* Fill `into` from a Rule object; -1 with an error set. */
static int
read_rule(PyObject *rule, Rule *into)
{
    PyObject *metric = PyObject_GetAttrString(rule, "metric");
    if (metric == NULL)
        return -1;
    into->code = PyObject_GetAttrString(metric, "code");
    Py_DECREF(metric);
    if (into->code == NULL)
        return -1;
    if ((into->kind = PyObject_GetAttrString(rule, "kind")) == NULL
        || (into->original_text = PyObject_GetAttrString(rule, "original_text")) == NULL)
        return -1;
    if (!PyUnicode_Check(into->code) || !PyUnicode_Check(into->kind) || !PyUnicode_Check(into->original_text)) {
        PyErr_SetString(PyExc_TypeError, "a rule's metric code, kind and original text must be str");
        return -1;
    }
    if (read_number(rule, "factor", &into->factor) < 0 || read_number(rule, "offset", &into->offset) < 0
        || read_number(rule, "low", &into->low) < 0 || read_number(rule, "high", &into->high) < 0
        || read_number(rule, "usual_low", &into->usual_low) < 0
        || read_number(rule, "usual_high", &into->usual_high) < 0
        || read_flag(rule, "identity", &into->identity) < 0 || read_flag(rule, "on_end_day", &into->on_end_day) < 0
        || read_integer(rule, "points", &into->points) < 0
        || read_integer(rule, "edge_quality", &into->edge_quality) < 0)
        return -1;
    return 0;
}

/* The rule of a record's metric, unit and device kind: from those read this batch, else from
 * `rule` (the preparer's, which remembers them). NULL without an error: the preparer refuses the
 * record (an unknown metric or unit), so the Python preparer should say why. */
static Rule *
rule_of(PyObject **field, PyObject *rule, Rule *rules, int *count)
{
    for (int i = 0; i < *count; i++) {
        if (rules[i].metric == field[T_METRIC] && rules[i].unit == field[T_UNIT]
            && rules[i].device_kind == field[T_DEVICE_KIND])
            return &rules[i];
    }
    if (*count == RULES_REMEMBERED)
        return NULL;
    PyObject *found = PyObject_CallFunctionObjArgs(rule, field[T_METRIC], field[T_UNIT], field[T_DEVICE_KIND], NULL);
    if (found == NULL) {
        if (PyErr_ExceptionMatches(invalid_record_type))
            PyErr_Clear();
        return NULL;
    }
    Rule *into = &rules[*count];
    memset(into, 0, sizeof *into);
    (*count)++;
    into->metric = Py_NewRef(field[T_METRIC]);
    into->unit = Py_NewRef(field[T_UNIT]);
    into->device_kind = Py_NewRef(field[T_DEVICE_KIND]);
    int failed = read_rule(found, into);
    Py_DECREF(found);
    return failed ? NULL : into;
}

/* A usual TimedRecord as a prepared row (new reference); NULL without an error when the record is
 * not usual (the Python preparer takes it), NULL with an error on failure. */
static PyObject *
usual_row(PyObject *record, PyObject *rule, Rule *rules, int *count)
{
    PyObject **field = &PyTuple_GET_ITEM(record, 0);
    if (!PyFloat_CheckExact(field[T_VALUE]) || !PyLong_CheckExact(field[T_START])
        || !PyLong_CheckExact(field[T_END]) || !PyUnicode_CheckExact(field[T_DEVICE])
        || !PyUnicode_CheckExact(field[T_SOURCE_KEY]) || PyUnicode_GET_LENGTH(field[T_DEVICE]) > DEVICE_MAX)
        return NULL;
    Rule *found = rule_of(field, rule, rules, count);
    if (found == NULL)
        return NULL; /* an error, if any, is set */
    int overflow;
    long long start = PyLong_AsLongLongAndOverflow(field[T_START], &overflow);
    if (overflow || (start == -1 && PyErr_Occurred()))
        return NULL;
    long long end = PyLong_AsLongLongAndOverflow(field[T_END], &overflow);
    if (overflow || (end == -1 && PyErr_Occurred()))
        return NULL;
    if (end < start)
        return NULL; /* refused: end_before_start */
    PyObject *minutes = field[found->on_end_day ? T_END_OFFSET : T_START_OFFSET];
    PyObject *day = field[found->on_end_day ? T_END_DAY : T_START_DAY];
    /* No offset (or not a plain one): the user's time zone places the record, in Python. */
    if (!PyLong_CheckExact(minutes) || PyObject_Not(minutes) != 0)
        return NULL;
    double original = PyFloat_AS_DOUBLE(field[T_VALUE]);
    if (!isfinite(original))
        return NULL;
    /* As Python computes it: a product, then a sum, each rounded (setup.py turns off contraction). */
    double product = original * found->factor;
    double value = product + found->offset;
    if (!(found->low <= value && value <= found->high))
        return NULL; /* refused: implausible_value */
    long flags = 0, quality = found->points;
    if (!(found->usual_low <= value && value <= found->usual_high)) {
        flags = edge_of_range;
        quality = found->edge_quality;
    }
    PyObject *metadata = field[T_METADATA];
    int has_metadata = PyObject_IsTrue(metadata);
    if (has_metadata < 0)
        return NULL;
    PyObject *text;
    if (found->identity) {
        text = has_metadata ? PyObject_CallOneArg(metadata_text, metadata) : Py_NewRef(empty_metadata_text);
    }
    else {
        if (has_metadata)
            return NULL; /* the original value joins the metadata: Python writes it */
        flags |= converted;
        PyObject *written = PyObject_Repr(field[T_VALUE]);
        if (written == NULL)
            return NULL;
        text = PyUnicode_FromFormat("%U%U}}", found->original_text, written);
        Py_DECREF(written);
    }
    if (text == NULL)
        return NULL;
    if (quality < low_quality)
        flags |= low_quality_flag;
    PyObject *row = PyTuple_New(ROW_FIELDS);
    PyObject *number = PyFloat_FromDouble(value);
    PyObject *quality_object = PyLong_FromLong(quality);
    PyObject *flags_object = PyLong_FromLong(flags);
    if (row == NULL || number == NULL || quality_object == NULL || flags_object == NULL) {
        Py_XDECREF(row);
        Py_XDECREF(number);
        Py_XDECREF(quality_object);
        Py_XDECREF(flags_object);
        Py_DECREF(text);
        return NULL;
    }
    PyTuple_SET_ITEM(row, METRIC, Py_NewRef(found->code));
    PyTuple_SET_ITEM(row, DEVICE, Py_NewRef(field[T_DEVICE]));
    PyTuple_SET_ITEM(row, DEVICE_KIND, Py_NewRef(found->kind));
    PyTuple_SET_ITEM(row, SOURCE_KEY, Py_NewRef(field[T_SOURCE_KEY]));
    PyTuple_SET_ITEM(row, START, Py_NewRef(field[T_START]));
    PyTuple_SET_ITEM(row, END, Py_NewRef(field[T_END]));
    PyTuple_SET_ITEM(row, MINUTES, Py_NewRef(minutes));
    PyTuple_SET_ITEM(row, LOCAL_DATE, Py_NewRef(day));
    PyTuple_SET_ITEM(row, VALUE, number);
    PyTuple_SET_ITEM(row, SECONDARY, Py_NewRef(Py_None));
    PyTuple_SET_ITEM(row, QUALITY, quality_object);
    PyTuple_SET_ITEM(row, FLAGS, flags_object);
    PyTuple_SET_ITEM(row, METADATA, text);
    return row;
}

/* rejected[reason] += 1 for the InvalidRecord being raised; -1 if it is another error. */
static int
count_rejection(PyObject *rejected)
{
    if (!PyErr_ExceptionMatches(invalid_record_type))
        return -1;
    PyObject *type, *error, *traceback;
    PyErr_Fetch(&type, &error, &traceback);
    PyErr_NormalizeException(&type, &error, &traceback);
    PyObject *reason = error != NULL ? PyObject_GetAttr(error, reason_name) : NULL;
    Py_XDECREF(type);
    Py_XDECREF(error);
    Py_XDECREF(traceback);
    if (reason == NULL)
        return -1;
    PyObject *before = PyDict_GetItemWithError(rejected, reason);
    if (before == NULL && PyErr_Occurred()) {
        Py_DECREF(reason);
        return -1;
    }
    long count = before == NULL ? 0 : PyLong_AsLong(before);
    PyObject *after = (count == -1 && PyErr_Occurred()) ? NULL : PyLong_FromLong(count + 1);
    int failed = after == NULL || PyDict_SetItem(rejected, reason, after) < 0;
    Py_XDECREF(after);
    Py_DECREF(reason);
    return failed ? -1 : 0;
}

static PyObject *
prepare(PyObject *module, PyObject *args)
{
    PyObject *records, *rows, *rejected, *rule, *one;
    if (!PyArg_ParseTuple(args, "O!O!O!OO:prepare", &PyList_Type, &records, &PyDict_Type, &rows, &PyDict_Type,
                          &rejected, &rule, &one))
        return NULL;
    if (timed_record_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure() first");
        return NULL;
    }
    Rule rules[RULES_REMEMBERED];
    int count = 0;
    Py_ssize_t valid = 0;
    int failed = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(records) && !failed; i++) {
        PyObject *record = Py_NewRef(PyList_GET_ITEM(records, i));
        PyObject *row = NULL;
        if (Py_IS_TYPE(record, timed_record_type) && PyTuple_GET_SIZE(record) == TIMED_FIELDS)
            row = usual_row(record, rule, rules, &count);
        if (row == NULL && !PyErr_Occurred())
            row = PyObject_CallOneArg(one, record);
        Py_DECREF(record);
        if (row == NULL) {
            failed = count_rejection(rejected) < 0;
            continue;
        }
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != ROW_FIELDS)
            PyErr_SetString(PyExc_TypeError, "a prepared row must be a tuple of 13 fields");
        else if (PyDict_SetItem(rows, PyTuple_GET_ITEM(row, SOURCE_KEY), row) == 0)
            valid++;
        failed = PyErr_Occurred() != NULL;
        Py_DECREF(row);
    }
    forget_rules(rules, count);
    return failed ? NULL : PyLong_FromSsize_t(valid);
}

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *record_type, *invalid_type, *text;
    if (!PyArg_ParseTuple(args, "O!O!Ollll:configure", &PyType_Type, &record_type, &PyType_Type, &invalid_type,
                          &text, &edge_of_range, &converted, &low_quality, &low_quality_flag))
        return NULL;
    Py_XSETREF(timed_record_type, (PyTypeObject *)Py_NewRef(record_type));
    Py_XSETREF(invalid_record_type, Py_NewRef(invalid_type));
    Py_XSETREF(metadata_text, Py_NewRef(text));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(TimedRecord, InvalidRecord, metadata_text, EDGE_OF_RANGE, CONVERTED, LOW_QUALITY, "
     "LOW_QUALITY_FLAG): what prepare() needs of healthdata.prepare."},
    {"prepare", prepare, METH_VARARGS,
     "prepare(records, rows, rejected, rule, one) -> valid: Preparer.prepare's loop; rows by source key."},
    {"encode_rows", encode_rows, METH_VARARGS,
     "encode_rows(head, rows) -> bytes: a binary COPY stream of prepared rows, each after `head`."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "healthdata._rows",
    "Record rows prepared (healthdata.prepare) and encoded for COPY (healthdata.copy_encoding) in C.", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__rows(void)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL)
        return NULL;
    empty_metadata_text = PyUnicode_InternFromString("{}");
    reason_name = PyUnicode_InternFromString("reason");
    if (empty_metadata_text == NULL || reason_name == NULL)
        return NULL;
    return PyModule_Create(&module);
}
