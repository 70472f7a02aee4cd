//! A throw-away OpenLDAP server (Debian `slapd`) for login tests: a directory of
//! `dc=example,dc=org` with people, groups and a search account, served over ldaps://
//! and ldap:// (StartTLS) on free ports of 127.0.0.1 with a certificate the test makes;
//! stopped on drop.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory's suffix.
pub const BASE: &str = "dc=example,dc=org";
/// The search account and its password.
pub const SEARCH_DN: &str = "cn=lakegate,dc=example,dc=org";
/// The search account's password.
pub const SEARCH_PASSWORD: &str = "search-secret";

/// People: (uid, password, l, departmentNumber, groups).
pub const PEOPLE: &[(&str, &str, &str, &str, &[&str])] = &[
    ("alice", "wonderland", "EUROPE", "3", &["analyst"]),
    ("bob", "builder", "ASIA", "2", &[]),
    // Two entries answer to "carol" (uid and a second entry's cn): a search that finds
    // both must refuse rather than pick one.
    ("carol", "singer", "AFRICA", "0", &["analyst"]),
];

/// A running slapd.
pub struct LdapServer {
    child: Option<Child>,
    /// ldaps:// port.
    pub ldaps_port: u16,
    /// ldap:// port (StartTLS).
    pub ldap_port: u16,
    /// The CA certificate (the server's self-signed certificate) as a PEM file.
    pub ca_file: String,
    _dir: tempfile::TempDir,
}

impl Drop for LdapServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl LdapServer {
    /// Starts slapd; `None` when it is not installed.
    pub fn start() -> Option<Self> {
        let slapd = Path::new("/usr/sbin/slapd");
        if !slapd.exists() {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("lakegate-ldap-")
            .tempdir()
            .expect("temp dir");
        let path = |name: &str| dir.path().join(name).display().to_string();
        let generated = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .expect("certificate");
        std::fs::write(path("cert.pem"), generated.cert.pem()).expect("cert");
        std::fs::write(path("key.pem"), generated.signing_key.serialize_pem()).expect("key");
        std::fs::create_dir(path("db")).expect("db dir");
        let config = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             pidfile {pid}\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             TLSCertificateFile {cert}\n\
             TLSCertificateKeyFile {key}\n\
             database mdb\n\
             maxsize 10485760\n\
             suffix \"{BASE}\"\n\
             rootdn \"cn=admin,{BASE}\"\n\
             rootpw admin-secret\n\
             directory {db}\n\
             access to attrs=userPassword by self read by anonymous auth by * none\n\
             access to dn.subtree=\"ou=groups,{BASE}\" by dn.exact=\"{SEARCH_DN}\" read by users read by * none\n\
             access to * by * read\n",
            pid = path("slapd.pid"),
            cert = path("cert.pem"),
            key = path("key.pem"),
            db = path("db"),
        );
        std::fs::write(path("slapd.conf"), config).expect("config");
        std::fs::write(path("data.ldif"), directory()).expect("data");
        let loaded = Command::new("/usr/sbin/slapadd")
            .args(["-f", &path("slapd.conf"), "-l", &path("data.ldif")])
            .output()
            .expect("slapadd runs");
        assert!(loaded.status.success(), "slapadd: {loaded:?}");
        let mut server = Self {
            child: None,
            ldaps_port: free_port(),
            ldap_port: free_port(),
            ca_file: path("cert.pem"),
            _dir: dir,
        };
        server.run();
        Some(server)
    }

    fn run(&mut self) {
        let config = self._dir.path().join("slapd.conf");
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(&config)
            .arg("-h")
            .arg(format!(
                "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/",
                self.ldap_port, self.ldaps_port
            ))
            .args(["-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.ldaps_port)).is_err()
            || TcpStream::connect(("127.0.0.1", self.ldap_port)).is_err()
        {
            assert!(Instant::now() < deadline, "slapd did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (a directory outage); [`LdapServer::restart`] brings it back.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports and data.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

/// The directory's entries as LDIF.
fn directory() -> String {
    let mut ldif = format!(
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: {SEARCH_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
         cn: lakegate\nuserPassword: {SEARCH_PASSWORD}\n\n"
    );
    for (uid, password, l, department, _) in PEOPLE {
        ldif.push_str(&format!(
            "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\n\
             cn: {uid}\nsn: {uid}\nl: {l}\ndepartmentNumber: {department}\n\
             userPassword: {password}\n\n"
        ));
    }
    // The second "carol": another person whose uid is carol too.
    ldif.push_str(&format!(
        "dn: cn=Carol Twin,ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: carol\n\
         cn: Carol Twin\nsn: Twin\nuserPassword: singer\n\n"
    ));
    let mut groups: Vec<&str> = PEOPLE.iter().flat_map(|p| p.4.iter().copied()).collect();
    groups.sort();
    groups.dedup();
    for group in groups {
        ldif.push_str(&format!(
            "dn: cn={group},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {group}\n"
        ));
        for (uid, _, _, _, of) in PEOPLE {
            if of.contains(&group) {
                ldif.push_str(&format!("member: uid={uid},ou=people,{BASE}\n"));
            }
        }
        ldif.push('\n');
    }
    ldif
}
