//! The connection strings tests/conformance.rs feeds to libpq and to pgreach: PostgreSQL's own
//! URI regression inputs, then edge cases of ours, then the documented differences.

/// The inputs of PostgreSQL 18's `src/interfaces/libpq/t/001_uri.pl` (formerly
/// `test/regress.in`), in its order. Their expected results are not copied: libpq 18 itself
/// answers (only the parse; the `(inet)`/`(local)` tags of the upstream test need defaults).
pub const UPSTREAM_URIS: &[&str] = &[
    "postgresql://uri-user:secret@host:12345/db",
    "postgresql://uri-user@host:12345/db",
    "postgresql://uri-user@host/db",
    "postgresql://host:12345/db",
    "postgresql://host/db",
    "postgresql://uri-user@host:12345/",
    "postgresql://uri-user@host/",
    "postgresql://uri-user@",
    "postgresql://host:12345/",
    "postgresql://host:12345",
    "postgresql://host/",
    "postgresql://host",
    "postgresql://",
    "postgresql://?hostaddr=127.0.0.1",
    "postgresql://example.com?hostaddr=63.1.2.4",
    "postgresql://%68ost/",
    "postgresql://host/db?user=uri-user",
    "postgresql://host/db?user=uri-user&port=12345",
    "postgresql://host/db?u%73er=someotheruser&port=12345",
    "postgresql://host/db?u%7aer=someotheruser&port=12345",
    "postgresql://host:12345?user=uri-user",
    "postgresql://host?user=uri-user",
    "postgresql://host?  user = uri-user & port  = 12345 ",
    "postgresql://host?  user user  =  uri  & port = 12345 12 ",
    "postgresql://host?  user  =  uri-user  & port = 12345 12 ",
    "postgresql://host?",
    "postgresql://[::1]:12345/db",
    "postgresql://[::1]/db",
    "postgresql://[2001:db8::1234]/",
    "postgresql://[200z:db8::1234]/",
    "postgresql://[::1]",
    "postgres://",
    "postgres:///",
    "postgres:///db",
    "postgres://uri-user@/db",
    "postgres://?host=/path/to/socket/dir",
    "postgresql://host?uzer=",
    "postgre://",
    "postgres://[::1",
    "postgres://[]",
    "postgres://[::1]z",
    "postgresql://host?zzz",
    "postgresql://host?value1&value2",
    "postgresql://host?key=key=value",
    "postgres://host?dbname=%XXfoo",
    "postgresql://a%00b",
    "postgresql://%zz",
    "postgresql://%1",
    "postgresql://%",
    "postgres://@host",
    "postgres://host:/",
    "postgres://:12345/",
    "postgres://otheruser@?host=/no/such/directory",
    "postgres://otheruser@/?host=/no/such/directory",
    "postgres://otheruser@:12345?host=/no/such/socket/path",
    "postgres://otheruser@:12345/db?host=/path/to/socket",
    "postgres://:12345/db?host=/path/to/socket",
    "postgres://:12345?host=/path/to/socket",
    "postgres://%2Fvar%2Flib%2Fpostgresql/dbname",
    "postgresql://host?sslmode=disable",
    "postgresql://host?sslmode=prefer",
    "postgresql://host?sslmode=verify-full",
];

/// Our own edge cases: empty values, zone ids, spaces, percent-encoding, multi-host lists,
/// quoting, unknown keywords, both schemes.
pub const OWN_CASES: &[&str] = &[
    // An empty value is stored (and so keeps the environment variable out); an empty part of
    // the URI before the query is not stored at all.
    "postgres://h?port=",
    "postgres://h?port=&sslmode=&host=",
    "postgres://h:/db",
    "postgres://u:@h",
    "postgres://h/",
    "host=",
    "host='' port=''",
    "host= port=5433",
    "port=",
    "sslmode=",
    // IPv6 zone ids: percent-encoded in a URI, plain in conninfo.
    "postgres://[fe80::1%25eth0]:5432/db",
    "postgres://[fe80::1%25eth0]/db",
    "postgres://[fe80::1%eth0]:5432/db",
    "host=fe80::1%eth0 port=5432",
    "postgres://fe80::1",
    // Spaces around and inside URI parts (libpq 18 trims around, refuses inside).
    "postgres://h?sslmode = require",
    "postgres://h?sslmode =require",
    "postgres://h? sslmode=require",
    "postgres://h?sslmode= require",
    "postgres://h?ssl mode=require",
    "postgres://h?application_name= my app ",
    "postgres://h?application_name=%20x%20",
    "postgres://h?%20sslmode=require",
    "postgres://h?sslmode=require%20",
    "postgres://h?sslmode=\trequire",
    "postgres://h?sslmode=require& port=5433",
    "postgres://h?port= ",
    "postgres:// h/db",
    "postgres://h /db",
    "postgres://h/ db ",
    "postgres://h/my db",
    "postgres://h/my%20db",
    "postgres://u ser@h",
    "postgres:// u@h",
    "postgres://u:p w@h",
    "postgres://h: 5433/db",
    "postgres://h%20x",
    "postgres://h/%20",
    // Query parameters: JDBC's ssl=true, the deprecated requiressl, separators.
    "postgres://h?ssl=true",
    "postgres://h?ssl = true",
    "postgres://h?ssl=false",
    "postgres://h?ssl=",
    "postgres://h?requiressl=1",
    "postgres://h?requiressl=0",
    "postgres://h?requiressl=x",
    "postgres://h?=x",
    "postgres://h?sslmode=require&&port=1",
    "postgres://h?&",
    "postgres://h?sslmode=require&",
    "postgres://h/db?dbname=other",
    "postgres://h?ssl=true&sslmode=disable",
    // Percent-encoding.
    "postgres://us%40er:p%3Aw%2Fd@h/my%2Fdb",
    "postgres://h?application_name=a+b",
    "postgres://h/%ff",
    "postgres://h/%C3%A9",
    "postgres://h/%e9",
    // User info and paths.
    "postgres://u:p@w@h/db",
    "postgres://h/db/x",
    "postgres://h/db?",
    // Multi-host lists.
    "postgres://h1,h2:5433,[::1]:1/db",
    "postgres://h1:1,/db",
    "postgres://,/db",
    "postgres://a,,b",
    "postgres://a,b?port=1,2",
    "host=a,b,c port=1,,3",
    "host=a,b hostaddr=10.0.0.1,",
    // Both schemes, and near misses.
    "postgres://h",
    "postgresql://h",
    "Postgres://h",
    "postgres:/h",
    "mysql://u:pw@h/db",
    // Conninfo quoting and escapes.
    "host=h port = 5433   user =u",
    "password='it\\'s \\\\ ok' host=h",
    "password=a\\ b user=u",
    "options='-c search_path=x'",
    "dbname='a=b'",
    "host='a'b",
    "host='unterminated",
    "host=a\\",
    "host=h user",
    "=x",
    "host=a\u{b}port=1",
    "host=a\u{c}port=1",
    "host=\u{a0}a",
    "",
    "   ",
    // Keywords: unknown, case, deprecated.
    "host=h foo=bar",
    "host=h Host=x",
    "requiressl=1 host=h",
    "requiressl=1 sslmode=disable",
    "sslmode=disable requiressl=1",
    "host=h requiressl=",
    "host=h sslnegotiation=direct",
    "host=a host=b",
];

/// Where pgreach's TARGET parse deliberately differs from libpq 18's `PQconninfoParse`, and why.
/// The test fails if one of these starts to agree (then it no longer belongs here).
pub const EXCEPTIONS: &[(&str, &str)] = &[
    (
        "postgres://h/%ff",
        "a percent-encoded byte that is not UTF-8: libpq stores the raw byte; pgreach keeps \
         settings as UTF-8 strings and refuses the URI with a message naming the part",
    ),
    (
        "postgres://h/%e9",
        "as above (a Latin-1 byte): refused as not UTF-8",
    ),
    (
        "postgres:/h",
        "not a URI (one slash), so pgreach reads the TARGET as host:port (host \"postgres\", \
         port \"/h\"), and then refuses the port when it validates it; libpq refuses the \
         string at once (missing \"=\"). Both end in an error",
    ),
];

/// pgreach TARGET forms that are not connection strings: libpq's parser refuses them (missing
/// "="), pgreach accepts them on purpose as the host part of a target.
pub const TARGET_ONLY_FORMS: &[(&str, &str)] = &[
    ("db.example.com", "a bare host name"),
    ("db.example.com:5433", "host:port"),
    ("[::1]:5433", "[IPv6]:port"),
    ("fe80::1%eth0", "a bare IPv6 address with a zone"),
    ("/var/run/postgresql", "a socket directory"),
    ("/tmp/.s.PGSQL.5433", "a socket file, which names the port"),
];

/// The inputs whose parse differs between libpq 15 and libpq 18, and how.
pub const V15_V18_DIFFERENCES: &[(&str, &str)] = &[
    (
        "postgresql://host?  user = uri-user & port  = 12345 ",
        "15: \"  user \" is an invalid query parameter; 18: spaces around are trimmed",
    ),
    (
        "postgres://h?sslmode = require",
        "15: invalid parameter \"sslmode \"; 18: trimmed",
    ),
    ("postgres://h?sslmode =require", "as above"),
    ("postgres://h? sslmode=require", "as above"),
    (
        "postgres://h?sslmode= require",
        "15: value \" require\" kept; 18: trimmed",
    ),
    (
        "postgres://h?application_name= my app ",
        "15: value kept with its spaces; 18: unexpected spaces",
    ),
    (
        "postgres://h?sslmode=require& port=5433",
        "15: invalid parameter \" port\"; 18: trimmed",
    ),
    ("postgres://h?port= ", "15: port \" \"; 18: empty"),
    ("postgres:// h/db", "15: host \" h\"; 18: trimmed"),
    ("postgres://h /db", "15: host \"h \"; 18: trimmed"),
    ("postgres://h/ db ", "15: dbname \" db \"; 18: trimmed"),
    (
        "postgres://h/my db",
        "15: dbname kept; 18: unexpected spaces",
    ),
    ("postgres://u ser@h", "15: user kept; 18: unexpected spaces"),
    ("postgres:// u@h", "15: user \" u\"; 18: trimmed"),
    (
        "postgres://u:p w@h",
        "15: password kept; 18: unexpected spaces",
    ),
    ("postgres://h: 5433/db", "15: port \" 5433\"; 18: trimmed"),
    (
        "postgres://h?ssl = true",
        "15: invalid parameter \"ssl \"; 18: trimmed",
    ),
    (
        "host=h sslnegotiation=direct",
        "sslnegotiation is a libpq 17 keyword: 15 refuses it",
    ),
];
