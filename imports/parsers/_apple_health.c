/* The hot path of imports.parsers.apple_health in C: quantity samples read straight from expat.
 *
 * An Apple Health export is a million-record stream of `<Record .../>` elements under
 * `<HealthData>`. Read through pyexpat, each element costs a dictionary of Python strings and two
 * Python calls before the parser sees it; that alone is as much work again as expat's own reading.
 * `Reader` drives the same expat library (pyexpat's, through its capsule) and reads the common case
 * itself: a Record directly under the root whose series (type, sourceName, device, unit) the Python
 * parser has declared fast, whose value is a plain decimal number and whose dates are written as
 * Apple writes them (`2025-01-14 07:42:10 -0500`). Such a record becomes a `TimedRecord` appended
 * to the parser's list of pending items, exactly as the Python parser would have made it; its
 * MetadataEntry children become its metadata. Every other element, and every record that misses
 * one of those conditions by a single character, is handed to the Python parser's handlers with
 * its attributes, as pyexpat would hand it. So the Python parser stays the reference: the reader
 * only decides sooner what it would have decided, and tests hold the two to the same output.
 * Given the parser as `heartbeats`, it also appends an HRV record's heartbeats to the parser's
 * `beats` list where and as the parser's handler would (`append_heartbeat`): an export holds
 * hundreds of thousands of them.
 *
 * Hardening: the Python parser has already refused any DTD that declares entities or names an
 * external subset, and cut the DTD out, before the first byte reaches this reader; no entity can be
 * declared, so none is expanded and nothing is fetched. A document type declaration that still
 * reaches expat stops the import through the `doctype` callback.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <string.h>

/* expat's types as its expat.h declares them, for pyexpat.h's table of functions; the library
 * itself is the one pyexpat links, so nothing but Python's headers is needed to build. */
typedef struct XML_ParserStruct *XML_Parser;
typedef char XML_Char;
typedef char XML_LChar;
typedef unsigned long XML_Size;
enum XML_Error { XML_ERROR_NONE = 0 };
enum XML_Status { XML_STATUS_ERROR = 0, XML_STATUS_OK = 1, XML_STATUS_SUSPENDED = 2 };
typedef struct XML_Memory_Handling_Suite XML_Memory_Handling_Suite;
typedef struct XML_Encoding XML_Encoding;
typedef void (*XML_StartElementHandler)(void *, const XML_Char *, const XML_Char **);
typedef void (*XML_EndElementHandler)(void *, const XML_Char *);
typedef void (*XML_CharacterDataHandler)(void *, const XML_Char *, int);
typedef void (*XML_CommentHandler)(void *, const XML_Char *);
typedef void (*XML_DefaultHandler)(void *, const XML_Char *, int);
typedef void (*XML_StartNamespaceDeclHandler)(void *, const XML_Char *, const XML_Char *);
typedef void (*XML_EndNamespaceDeclHandler)(void *, const XML_Char *);
typedef void (*XML_ProcessingInstructionHandler)(void *, const XML_Char *, const XML_Char *);
typedef int (*XML_UnknownEncodingHandler)(void *, const XML_Char *, XML_Encoding *);
typedef void (*XML_StartDoctypeDeclHandler)(void *, const XML_Char *, const XML_Char *, const XML_Char *,
                                            int);
#include <pyexpat.h>

static struct PyExpat_CAPI *expat_api;
static PyObject *expat_error; /* xml.parsers.expat.ExpatError */

#define DATE_LENGTH 25  /* 2025-01-14 07:42:10 -0500 */
#define KEY_PREFIX_MAX 64
#define DAYS_REMEMBERED 64
#define SERIES_KEY_MAX 1024

/* The TimedRecord fields, in order (healthdata.normalized.TimedRecord). */
enum { METRIC, VALUE, UNIT, START, END, START_OFFSET, START_DAY, END_OFFSET, END_DAY, SOURCE_KEY, DEVICE,
       DEVICE_KIND, METADATA, TIMED_FIELDS };
/* The series tuple the Python parser declares fast: (metric, unit, device, device kind, key prefix). */
enum { SERIES_METRIC, SERIES_UNIT, SERIES_DEVICE, SERIES_DEVICE_KIND, SERIES_KEY_PREFIX, SERIES_FIELDS };

typedef struct {
    long long microseconds; /* since the Unix epoch, in UTC */
    int offset_minutes;
    int days;               /* days since the Unix epoch of the local date */
    int year, month, day;
} Moment;

typedef struct {
    PyObject_HEAD
    XML_Parser parser;
    PyObject *start;        /* start(name, attrs): the Python parser's StartElementHandler */
    PyObject *end;          /* end(name) */
    PyObject *describe;     /* describe(type, sourceName, device, unit) -> series tuple or None */
    PyObject *doctype;      /* doctype(): raises; a document type declaration reached expat */
    PyObject *pending;      /* the list items go to, the Python parser's own */
    PyObject *heartbeats;   /* the Python parser, whose `beats` list takes an HRV record's beats; or NULL */
    int beat_open;          /* the depth of a heartbeat appended here, whose end Python does not see */
    PyTypeObject *record_type;
    PyObject *no_metadata;
    PyObject *series;       /* bytes of type \0 source \0 device \0 unit -> series tuple or None */
    PyObject *last_series_key;
    PyObject *last_series;
    int failed;             /* a Python error is set: handlers do nothing until Parse returns */
    int depth;              /* elements open */
    /* the fast record open, if any */
    int open;
    int ignored;            /* elements open inside it that are not its children of interest */
    PyObject *open_series;
    PyObject *open_key;
    PyObject *open_metadata;
    double open_value;
    Moment open_start, open_end;
    /* local dates made so far, by days since the epoch */
    int day_numbers[DAYS_REMEMBERED];
    PyObject *day_objects[DAYS_REMEMBERED];
} Reader;

/* ---- dates and numbers ------------------------------------------------------------------------ */

static int
digits(const char *text, int count)
{
    int value = 0;
    for (int i = 0; i < count; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

static int
is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int
days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/* Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long long
days_from_civil(int year, int month, int day)
{
    year -= month <= 2;
    long long era = (year >= 0 ? year : year - 399) / 400;
    long long year_of_era = year - era * 400;
    long long day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    long long day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

/* `YYYY-MM-DD HH:MM:SS ±HHMM` with every field in range, else 0 (the Python parser decides). */
static int
read_moment(const char *text, Moment *moment)
{
    if (strlen(text) != DATE_LENGTH || text[4] != '-' || text[7] != '-' || text[10] != ' ' || text[13] != ':'
        || text[16] != ':' || text[19] != ' ' || (text[20] != '+' && text[20] != '-'))
        return 0;
    int year = digits(text, 4), month = digits(text + 5, 2), day = digits(text + 8, 2);
    int hour = digits(text + 11, 2), minute = digits(text + 14, 2), second = digits(text + 17, 2);
    int offset_hours = digits(text + 21, 2), offset_minutes = digits(text + 23, 2);
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour < 0
        || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 || offset_hours < 0
        || offset_hours > 23 || offset_minutes < 0 || offset_minutes > 59)
        return 0;
    int offset = (offset_hours * 60 + offset_minutes) * (text[20] == '-' ? -1 : 1);
    long long days = days_from_civil(year, month, day);
    long long local_seconds = days * 86400 + hour * 3600 + minute * 60 + second;
    moment->microseconds = (local_seconds - offset * 60LL) * 1000000LL;
    moment->offset_minutes = offset;
    moment->days = (int)days;
    moment->year = year;
    moment->month = month;
    moment->day = day;
    return 1;
}

/* A plain decimal: [sign] digits [. digits] [exponent], or digits after the point only. */
static int
is_plain_number(const char *text)
{
    const char *c = text;
    int seen = 0;
    if (*c == '-' || *c == '+')
        c++;
    while (*c >= '0' && *c <= '9') {
        c++;
        seen = 1;
    }
    if (*c == '.') {
        c++;
        while (*c >= '0' && *c <= '9') {
            c++;
            seen = 1;
        }
    }
    if (!seen)
        return 0;
    if (*c == 'e' || *c == 'E') {
        c++;
        if (*c == '-' || *c == '+')
            c++;
        if (*c < '0' || *c > '9')
            return 0;
        while (*c >= '0' && *c <= '9')
            c++;
    }
    return *c == '\0';
}

static PyObject *
local_date(Reader *self, const Moment *moment)
{
    int slot = (moment->days % DAYS_REMEMBERED + DAYS_REMEMBERED) % DAYS_REMEMBERED;
    if (self->day_objects[slot] == NULL || self->day_numbers[slot] != moment->days) {
        PyObject *made = PyDate_FromDate(moment->year, moment->month, moment->day);
        if (made == NULL)
            return NULL;
        Py_XSETREF(self->day_objects[slot], made);
        self->day_numbers[slot] = moment->days;
    }
    return Py_NewRef(self->day_objects[slot]);
}

/* ---- handing elements to Python ---------------------------------------------------------------- */

static PyObject *
attributes_dict(const XML_Char **attributes)
{
    PyObject *dict = PyDict_New();
    if (dict == NULL)
        return NULL;
    for (int i = 0; attributes[i] != NULL; i += 2) {
        PyObject *value = PyUnicode_DecodeUTF8(attributes[i + 1], strlen(attributes[i + 1]), "strict");
        if (value == NULL) {
            Py_DECREF(dict);
            return NULL;
        }
        int failed = PyDict_SetItemString(dict, attributes[i], value);
        Py_DECREF(value);
        if (failed) {
            Py_DECREF(dict);
            return NULL;
        }
    }
    return dict;
}

static void
forward_start(Reader *self, const XML_Char *name, const XML_Char **attributes)
{
    PyObject *attrs = attributes_dict(attributes);
    PyObject *result = NULL;
    if (attrs != NULL) {
        result = PyObject_CallFunction(self->start, "sO", name, attrs);
        Py_DECREF(attrs);
    }
    if (result == NULL)
        self->failed = 1;
    Py_XDECREF(result);
}

static void
forward_end(Reader *self, const XML_Char *name)
{
    PyObject *result = PyObject_CallFunction(self->end, "s", name);
    if (result == NULL)
        self->failed = 1;
    Py_XDECREF(result);
}

/* ---- the fast record ---------------------------------------------------------------------------- */

/* The series of a record's type, sourceName, device and unit: a series tuple, Py_None (not fast)
 * or NULL with an error set. Borrowed. */
static PyObject *
series_of(Reader *self, const char *type, const char *source, const char *device, const char *unit)
{
    char key[SERIES_KEY_MAX];
    size_t lengths[4] = {strlen(type), strlen(source), strlen(device), strlen(unit)};
    size_t size = lengths[0] + lengths[1] + lengths[2] + lengths[3] + 3;
    if (size > SERIES_KEY_MAX)
        return Py_None;
    char *at = key;
    const char *parts[4] = {type, source, device, unit};
    for (int i = 0; i < 4; i++) {
        memcpy(at, parts[i], lengths[i]);
        at += lengths[i];
        if (i < 3)
            *at++ = '\0';
    }
    /* An export comes grouped by type and source: most records share the series of the one before. */
    if (self->last_series_key != NULL && (size_t)PyBytes_GET_SIZE(self->last_series_key) == size
        && memcmp(PyBytes_AS_STRING(self->last_series_key), key, size) == 0)
        return self->last_series;
    PyObject *bytes = PyBytes_FromStringAndSize(key, size);
    if (bytes == NULL)
        return NULL;
    PyObject *series = PyDict_GetItemWithError(self->series, bytes);
    if (series == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(bytes);
            return NULL;
        }
        series = PyObject_CallFunction(self->describe, "ssss", type, source, device, unit);
        if (series == NULL) {
            Py_DECREF(bytes);
            return NULL;
        }
        if (series != Py_None && (!PyTuple_Check(series) || PyTuple_GET_SIZE(series) != SERIES_FIELDS
                                  || !PyUnicode_Check(PyTuple_GET_ITEM(series, SERIES_KEY_PREFIX)))) {
            PyErr_SetString(PyExc_TypeError, "describe() must return a series tuple or None");
            Py_DECREF(series);
            Py_DECREF(bytes);
            return NULL;
        }
        int failed = PyDict_SetItem(self->series, bytes, series);
        Py_DECREF(series); /* the dictionary holds it */
        if (failed) {
            Py_DECREF(bytes);
            return NULL;
        }
    }
    Py_XSETREF(self->last_series_key, bytes);
    self->last_series = series;
    return series;
}

/* Open a fast record when every condition holds: 1 opened, 0 not fast, -1 error. */
static int
open_record(Reader *self, const XML_Char **attributes)
{
    const char *type = "", *source = "", *device = "", *unit = "";
    const char *start = NULL, *end = NULL, *value = NULL;
    for (int i = 0; attributes[i] != NULL; i += 2) {
        const char *name = attributes[i], *text = attributes[i + 1];
        switch (name[0]) {
        case 't': if (strcmp(name, "type") == 0) type = text; break;
        case 's':
            if (strcmp(name, "sourceName") == 0) source = text;
            else if (strcmp(name, "startDate") == 0) start = text;
            break;
        case 'd': if (strcmp(name, "device") == 0) device = text; break;
        case 'u': if (strcmp(name, "unit") == 0) unit = text; break;
        case 'e': if (strcmp(name, "endDate") == 0) end = text; break;
        case 'v': if (strcmp(name, "value") == 0) value = text; break;
        }
    }
    if (start == NULL || end == NULL || value == NULL || !is_plain_number(value))
        return 0;
    Moment start_moment, end_moment;
    if (!read_moment(start, &start_moment) || !read_moment(end, &end_moment))
        return 0;
    PyObject *series = series_of(self, type, source, device, unit);
    if (series == NULL)
        return -1;
    if (series == Py_None)
        return 0;
    double number = PyOS_string_to_double(value, NULL, NULL);
    if (number == -1.0 && PyErr_Occurred())
        return -1;
    /* source_key: the series' prefix, then startDate|endDate as written (all ASCII). */
    Py_ssize_t prefix_length;
    const char *prefix = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(series, SERIES_KEY_PREFIX), &prefix_length);
    if (prefix == NULL)
        return -1;
    if (prefix_length > KEY_PREFIX_MAX)
        return 0;
    char key[KEY_PREFIX_MAX + 2 * DATE_LENGTH + 1];
    memcpy(key, prefix, prefix_length);
    memcpy(key + prefix_length, start, DATE_LENGTH);
    key[prefix_length + DATE_LENGTH] = '|';
    memcpy(key + prefix_length + DATE_LENGTH + 1, end, DATE_LENGTH);
    PyObject *source_key = PyUnicode_DecodeUTF8(key, prefix_length + 2 * DATE_LENGTH + 1, "strict");
    if (source_key == NULL)
        return -1;
    self->open = 1;
    self->ignored = 0;
    self->open_series = Py_NewRef(series);
    self->open_key = source_key;
    self->open_metadata = NULL;
    self->open_value = number;
    self->open_start = start_moment;
    self->open_end = end_moment;
    return 1;
}

static int
add_metadata(Reader *self, const XML_Char **attributes)
{
    const char *key = "", *value = "";
    for (int i = 0; attributes[i] != NULL; i += 2) {
        if (strcmp(attributes[i], "key") == 0)
            key = attributes[i + 1];
        else if (strcmp(attributes[i], "value") == 0)
            value = attributes[i + 1];
    }
    if (self->open_metadata == NULL && (self->open_metadata = PyDict_New()) == NULL)
        return -1;
    PyObject *key_text = PyUnicode_DecodeUTF8(key, strlen(key), "strict");
    if (key_text == NULL)
        return -1;
    PyObject *value_text = PyUnicode_DecodeUTF8(value, strlen(value), "strict");
    if (value_text == NULL) {
        Py_DECREF(key_text);
        return -1;
    }
    int failed = PyDict_SetItem(self->open_metadata, key_text, value_text);
    Py_DECREF(key_text);
    Py_DECREF(value_text);
    return failed;
}

static void
drop_record(Reader *self)
{
    self->open = 0;
    Py_CLEAR(self->open_series);
    Py_CLEAR(self->open_key);
    Py_CLEAR(self->open_metadata);
}

/* The open record as a TimedRecord appended to the pending items. */
static int
close_record(Reader *self)
{
    PyObject *series = self->open_series;
    PyObject *record = self->record_type->tp_alloc(self->record_type, TIMED_FIELDS);
    if (record == NULL) {
        drop_record(self);
        return -1;
    }
    PyObject *fields[TIMED_FIELDS] = {
        [METRIC] = Py_NewRef(PyTuple_GET_ITEM(series, SERIES_METRIC)),
        [VALUE] = PyFloat_FromDouble(self->open_value),
        [UNIT] = Py_NewRef(PyTuple_GET_ITEM(series, SERIES_UNIT)),
        [START] = PyLong_FromLongLong(self->open_start.microseconds),
        [END] = PyLong_FromLongLong(self->open_end.microseconds),
        [START_OFFSET] = PyLong_FromLong(self->open_start.offset_minutes),
        [START_DAY] = local_date(self, &self->open_start),
        [END_OFFSET] = PyLong_FromLong(self->open_end.offset_minutes),
        [END_DAY] = local_date(self, &self->open_end),
        [SOURCE_KEY] = Py_NewRef(self->open_key),
        [DEVICE] = Py_NewRef(PyTuple_GET_ITEM(series, SERIES_DEVICE)),
        [DEVICE_KIND] = Py_NewRef(PyTuple_GET_ITEM(series, SERIES_DEVICE_KIND)),
        [METADATA] = Py_NewRef(self->open_metadata != NULL ? self->open_metadata : self->no_metadata),
    };
    int failed = 0;
    for (int i = 0; i < TIMED_FIELDS; i++) {
        if (fields[i] == NULL)
            failed = 1;
        PyTuple_SET_ITEM(record, i, fields[i]);
    }
    drop_record(self);
    if (!failed)
        failed = PyList_Append(self->pending, record);
    Py_DECREF(record);
    return failed ? -1 : 0;
}

/* ---- heartbeats ------------------------------------------------------------------------------------ */

/* An InstantaneousBeatsPerMinute inside a record the Python parser reads: appended here to its
 * `beats` list as its `_record_child` would ([_number(bpm), time]) when that is where Python would
 * put it (a record open, nothing ignored, a heartbeat list open). 1 appended, 0 not (Python takes
 * the element), -1 error. Its end, which Python would take for nothing, is not handed over. */
static int
append_heartbeat(Reader *self, const XML_Char **attributes)
{
    PyObject *owner = self->heartbeats;
    PyObject *record = PyObject_GetAttrString(owner, "record");
    if (record == NULL)
        return -1;
    int open = record != Py_None;
    Py_DECREF(record);
    PyObject *ignored = open ? PyObject_GetAttrString(owner, "ignored") : NULL;
    if (open && ignored == NULL)
        return -1;
    int overflow = 0;
    int quiet = ignored != NULL && PyLong_CheckExact(ignored) && PyLong_AsLongAndOverflow(ignored, &overflow) == 0
                && !overflow;
    Py_XDECREF(ignored);
    PyObject *beats = quiet ? PyObject_GetAttrString(owner, "beats") : NULL;
    if (quiet && beats == NULL)
        return -1;
    if (beats == NULL || !PyList_CheckExact(beats)) {
        Py_XDECREF(beats);
        return 0;
    }
    const char *bpm = NULL, *time = "";
    for (int i = 0; attributes[i] != NULL; i += 2) {
        if (strcmp(attributes[i], "bpm") == 0)
            bpm = attributes[i + 1];
        else if (strcmp(attributes[i], "time") == 0)
            time = attributes[i + 1];
    }
    PyObject *number = Py_NewRef(Py_None); /* imports.parsers.apple_health._number */
    if (bpm != NULL && bpm[0] != '\0') {
        PyObject *text = PyUnicode_DecodeUTF8(bpm, strlen(bpm), "strict");
        PyObject *parsed = text != NULL ? PyFloat_FromString(text) : NULL;
        Py_XDECREF(text);
        if (parsed != NULL)
            Py_SETREF(number, parsed);
        else if (text != NULL && PyErr_ExceptionMatches(PyExc_ValueError))
            PyErr_Clear();
        else {
            Py_DECREF(number);
            Py_DECREF(beats);
            return -1;
        }
    }
    PyObject *time_text = PyUnicode_DecodeUTF8(time, strlen(time), "strict");
    PyObject *beat = time_text != NULL ? PyList_New(2) : NULL;
    if (beat == NULL) {
        Py_XDECREF(time_text);
        Py_DECREF(number);
        Py_DECREF(beats);
        return -1;
    }
    PyList_SET_ITEM(beat, 0, number);
    PyList_SET_ITEM(beat, 1, time_text);
    int failed = PyList_Append(beats, beat);
    Py_DECREF(beat);
    Py_DECREF(beats);
    return failed ? -1 : 1;
}

/* ---- expat's handlers ----------------------------------------------------------------------------- */

static void
on_start(void *data, const XML_Char *name, const XML_Char **attributes)
{
    Reader *self = (Reader *)data;
    if (self->failed)
        return;
    self->depth++;
    if (self->open) {
        /* Inside a record only its MetadataEntry children count (heartbeat lists belong to HRV
         * records, never fast); anything else is ignored with all it holds, as in the Python parser. */
        if (self->ignored || (strcmp(name, "MetadataEntry") != 0
                              && strcmp(name, "HeartRateVariabilityMetadataList") != 0
                              && strcmp(name, "InstantaneousBeatsPerMinute") != 0))
            self->ignored++;
        else if (name[0] == 'M' && add_metadata(self, attributes) < 0)
            self->failed = 1;
        return;
    }
    if (self->depth == 2 && strcmp(name, "Record") == 0) {
        int opened = open_record(self, attributes);
        if (opened < 0)
            self->failed = 1;
        if (opened != 0)
            return;
    }
    if (self->heartbeats != NULL && self->beat_open == 0 && self->depth > 2
        && strcmp(name, "InstantaneousBeatsPerMinute") == 0) {
        int appended = append_heartbeat(self, attributes);
        if (appended < 0)
            self->failed = 1;
        if (appended != 0) {
            self->beat_open = self->depth;
            return;
        }
    }
    forward_start(self, name, attributes);
}

static void
on_end(void *data, const XML_Char *name)
{
    Reader *self = (Reader *)data;
    if (self->failed)
        return;
    self->depth--;
    if (self->open) {
        if (self->ignored)
            self->ignored--;
        else if (self->depth == 1 && close_record(self) < 0)
            self->failed = 1;
        return;
    }
    if (self->beat_open == self->depth + 1) {
        self->beat_open = 0;
        return;
    }
    forward_end(self, name);
}

static void
on_doctype(void *data, const XML_Char *name, const XML_Char *system_id, const XML_Char *public_id,
           int has_internal_subset)
{
    Reader *self = (Reader *)data;
    if (self->failed)
        return;
    PyObject *result = PyObject_CallNoArgs(self->doctype);
    self->failed = 1;
    if (result != NULL) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_ValueError, "a document type declaration reached the parser");
    }
}

/* ---- the Reader type ------------------------------------------------------------------------------ */

static int
reader_init(Reader *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"start", "end", "describe", "doctype", "pending", "record_type", "no_metadata",
                            "heartbeats", NULL};
    PyObject *start, *end, *describe, *doctype, *pending, *no_metadata, *heartbeats = Py_None;
    PyTypeObject *record_type;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOO!O!O|$O:Reader", names, &start, &end, &describe,
                                     &doctype, &PyList_Type, &pending, &PyType_Type, &record_type,
                                     &no_metadata, &heartbeats))
        return -1;
    if (!PyType_IsSubtype(record_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "record_type must be a tuple type");
        return -1;
    }
    if (self->parser != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a Reader is initialized once");
        return -1;
    }
    self->series = PyDict_New();
    if (self->series == NULL)
        return -1;
    self->parser = expat_api->ParserCreate_MM(NULL, NULL, NULL);
    if (self->parser == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->start = Py_NewRef(start);
    self->end = Py_NewRef(end);
    self->describe = Py_NewRef(describe);
    self->doctype = Py_NewRef(doctype);
    self->pending = Py_NewRef(pending);
    self->record_type = (PyTypeObject *)Py_NewRef(record_type);
    self->no_metadata = Py_NewRef(no_metadata);
    self->heartbeats = heartbeats == Py_None ? NULL : Py_NewRef(heartbeats);
    expat_api->SetUserData(self->parser, self);
    expat_api->SetElementHandler(self->parser, on_start, on_end);
    expat_api->SetStartDoctypeDeclHandler(self->parser, on_doctype);
    expat_api->SetUnknownEncodingHandler(self->parser, expat_api->DefaultUnknownEncodingHandler, NULL);
    return 0;
}

static PyObject *
raise_expat_error(Reader *self)
{
    enum XML_Error code = expat_api->GetErrorCode(self->parser);
    XML_Size line = expat_api->GetErrorLineNumber(self->parser);
    XML_Size column = expat_api->GetErrorColumnNumber(self->parser);
    PyObject *error = PyObject_CallFunction(expat_error, "s", expat_api->ErrorString(code));
    if (error == NULL)
        return NULL;
    PyObject *values[3] = {PyLong_FromLong((long)code), PyLong_FromSize_t((size_t)line),
                           PyLong_FromSize_t((size_t)column)};
    const char *names[3] = {"code", "lineno", "offset"};
    for (int i = 0; i < 3; i++) {
        if (values[i] == NULL || PyObject_SetAttrString(error, names[i], values[i]) < 0) {
            for (int j = 0; j < 3; j++)
                Py_XDECREF(values[j]);
            Py_DECREF(error);
            return NULL;
        }
    }
    for (int i = 0; i < 3; i++)
        Py_DECREF(values[i]);
    PyErr_SetObject(expat_error, error);
    Py_DECREF(error);
    return NULL;
}

static PyObject *
reader_parse(Reader *self, PyObject *args)
{
    Py_buffer data;
    int final = 0;
    if (!PyArg_ParseTuple(args, "y*|p:Parse", &data, &final))
        return NULL;
    if (self->parser == NULL) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_RuntimeError, "the Reader is not initialized");
        return NULL;
    }
    if (self->failed) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_RuntimeError, "the Reader stopped on an earlier error");
        return NULL;
    }
    const char *bytes = data.buf;
    Py_ssize_t left = data.len;
    enum XML_Status status = XML_STATUS_OK;
    do { /* expat takes an int's worth at a time */
        int length = left > INT_MAX ? INT_MAX : (int)left;
        status = expat_api->Parse(self->parser, bytes, length, final && length == left);
        bytes += length;
        left -= length;
    } while (status == XML_STATUS_OK && !self->failed && left > 0);
    PyBuffer_Release(&data);
    if (self->failed) {
        drop_record(self);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "the Reader stopped");
        return NULL;
    }
    if (status != XML_STATUS_OK)
        return raise_expat_error(self);
    Py_RETURN_NONE;
}

static int
reader_traverse(Reader *self, visitproc visit, void *arg)
{
    Py_VISIT(self->start);
    Py_VISIT(self->end);
    Py_VISIT(self->describe);
    Py_VISIT(self->doctype);
    Py_VISIT(self->pending);
    Py_VISIT(self->record_type);
    Py_VISIT(self->no_metadata);
    Py_VISIT(self->heartbeats);
    Py_VISIT(self->series);
    Py_VISIT(self->open_series);
    Py_VISIT(self->open_metadata);
    return 0;
}

static int
reader_clear(Reader *self)
{
    drop_record(self);
    Py_CLEAR(self->start);
    Py_CLEAR(self->end);
    Py_CLEAR(self->describe);
    Py_CLEAR(self->doctype);
    Py_CLEAR(self->pending);
    Py_CLEAR(self->record_type);
    Py_CLEAR(self->no_metadata);
    Py_CLEAR(self->heartbeats);
    Py_CLEAR(self->series);
    Py_CLEAR(self->last_series_key);
    self->last_series = NULL;
    for (int i = 0; i < DAYS_REMEMBERED; i++)
        Py_CLEAR(self->day_objects[i]);
    return 0;
}

static void
reader_dealloc(Reader *self)
{
    PyObject_GC_UnTrack(self);
    reader_clear(self);
    if (self->parser != NULL)
        expat_api->ParserFree(self->parser);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef reader_methods[] = {
    {"Parse", (PyCFunction)reader_parse, METH_VARARGS,
     "Parse(data, isfinal=False): read a chunk, as pyexpat's Parse; raises ExpatError."},
    {NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "imports.parsers._apple_health.Reader",
    .tp_doc = "Reader(start, end, describe, doctype, pending, record_type, no_metadata): expat with "
              "the fast path for quantity samples; see the module's source.",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)reader_init,
    .tp_dealloc = (destructor)reader_dealloc,
    .tp_traverse = (traverseproc)reader_traverse,
    .tp_clear = (inquiry)reader_clear,
    .tp_methods = reader_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "imports.parsers._apple_health",
    .m_doc = "Quantity samples of an Apple Health export read in C (imports.parsers.apple_health).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__apple_health(void)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL)
        return NULL;
    expat_api = (struct PyExpat_CAPI *)PyCapsule_Import(PyExpat_CAPSULE_NAME, 0);
    if (expat_api == NULL)
        return NULL;
    if (strcmp(expat_api->magic, PyExpat_CAPI_MAGIC) != 0 || expat_api->size < (int)sizeof(*expat_api)) {
        PyErr_SetString(PyExc_ImportError, "pyexpat's C API is not the one this module was built for");
        return NULL;
    }
    PyObject *pyexpat = PyImport_ImportModule("pyexpat");
    if (pyexpat == NULL)
        return NULL;
    expat_error = PyObject_GetAttrString(pyexpat, "ExpatError");
    Py_DECREF(pyexpat);
    if (expat_error == NULL)
        return NULL;
    if (PyType_Ready(&ReaderType) < 0)
        return NULL;
    PyObject *created = PyModule_Create(&module);
    if (created == NULL)
        return NULL;
    if (PyModule_AddObjectRef(created, "Reader", (PyObject *)&ReaderType) < 0) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
