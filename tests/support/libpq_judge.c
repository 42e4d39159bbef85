/*
 * libpq_judge: asks a real libpq what it makes of a connection string, so that tests can hold
 * pgreach's predictions against libpq itself. Which libpq answers is chosen at run time by
 * LD_LIBRARY_PATH (the program links against the soname libpq.so.5); it prints PQlibVersion so
 * the caller can check. Built and run by tests/support/libpq.rs.
 *
 *   libpq_judge connect CONNINFO   PQconnectdbParams (connect_timeout=10 unless CONNINFO sets
 *                                  it), then the outcome
 *   libpq_judge parse CONNINFO     PQconninfoParse: every option libpq knows, or the error
 *
 * Output: lines of "KEY VALUE", the value escaped (\\, \n, \r, \t; other bytes below 0x20 and
 * 0x7f as \xHH) so that each line is one fact:
 *
 *   libversion 180004
 *   status ok | bad                        (connect)
 *   error MESSAGE                          (connect: PQerrorMessage, may be empty)
 *   server_version 18.4                    (connect, when ok)
 *   ssl_in_use 0 | 1                       (connect, when ok)
 *   ssl_protocol TLSv1.3                   (connect, when ok and over SSL)
 *   parse ok | error                       (parse)
 *   parse_error MESSAGE                    (parse, when error)
 *   option KEYWORD                         (parse, when ok: unset option)
 *   option KEYWORD=VALUE                   (parse, when ok: set option)
 *
 * Exit 0 when the question was answered (a failed connection is an answer), 2 on bad usage,
 * 3 when libpq could not allocate.
 *
 * The few libpq declarations are written out here (their ABI has been stable since libpq 9.5)
 * so that building needs only gcc and libpq.so.5, not libpq-dev's headers.
 */
#include <stdio.h>
#include <string.h>

typedef struct pg_conn PGconn;

typedef struct
{
    char *keyword;
    char *envvar;
    char *compiled;
    char *val;
    char *label;
    char *dispchar;
    int dispsize;
} PQconninfoOption;

/* ConnStatusType's first value. */
#define CONNECTION_OK 0

extern int PQlibVersion(void);
extern PGconn *PQconnectdbParams(const char *const *keywords, const char *const *values,
                                 int expand_dbname);
extern int PQstatus(const PGconn *conn);
extern char *PQerrorMessage(const PGconn *conn);
extern const char *PQparameterStatus(const PGconn *conn, const char *paramName);
extern int PQsslInUse(PGconn *conn);
extern const char *PQsslAttribute(PGconn *conn, const char *attribute_name);
extern void PQfinish(PGconn *conn);
extern PQconninfoOption *PQconninfoParse(const char *conninfo, char **errmsg);
extern void PQconninfoFree(PQconninfoOption *connOptions);
extern void PQfreemem(void *ptr);

static void put_escaped(const char *s)
{
    for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    {
        switch (*p)
        {
            case '\\': fputs("\\\\", stdout); break;
            case '\n': fputs("\\n", stdout); break;
            case '\r': fputs("\\r", stdout); break;
            case '\t': fputs("\\t", stdout); break;
            default:
                if (*p < 0x20 || *p == 0x7f)
                    printf("\\x%02x", *p);
                else
                    putchar(*p);
        }
    }
}

static void put_fact(const char *key, const char *value)
{
    printf("%s ", key);
    put_escaped(value ? value : "");
    putchar('\n');
}

static int judge_connect(const char *conninfo)
{
    /* With expand_dbname, settings in the expanded conninfo override the earlier keywords. */
    const char *const keywords[] = {"connect_timeout", "dbname", NULL};
    const char *const values[] = {"10", conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keywords, values, 1);
    if (conn == NULL)
        return 3;
    int ok = PQstatus(conn) == CONNECTION_OK;
    put_fact("status", ok ? "ok" : "bad");
    put_fact("error", PQerrorMessage(conn));
    if (ok)
    {
        int ssl = PQsslInUse(conn);
        put_fact("server_version", PQparameterStatus(conn, "server_version"));
        put_fact("ssl_in_use", ssl ? "1" : "0");
        if (ssl)
            put_fact("ssl_protocol", PQsslAttribute(conn, "protocol"));
    }
    PQfinish(conn);
    return 0;
}

static int judge_parse(const char *conninfo)
{
    char *errmsg = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &errmsg);
    if (options == NULL)
    {
        put_fact("parse", "error");
        put_fact("parse_error", errmsg ? errmsg : "out of memory");
        if (errmsg)
            PQfreemem(errmsg);
        return 0;
    }
    put_fact("parse", "ok");
    for (PQconninfoOption *o = options; o->keyword; o++)
    {
        printf("option ");
        put_escaped(o->keyword);
        if (o->val)
        {
            putchar('=');
            put_escaped(o->val);
        }
        putchar('\n');
    }
    PQconninfoFree(options);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "connect") != 0 && strcmp(argv[1], "parse") != 0))
    {
        fprintf(stderr, "usage: libpq_judge connect|parse CONNINFO\n");
        return 2;
    }
    printf("libversion %d\n", PQlibVersion());
    int rc = strcmp(argv[1], "connect") == 0 ? judge_connect(argv[2]) : judge_parse(argv[2]);
    fflush(stdout);
    return rc;
}
