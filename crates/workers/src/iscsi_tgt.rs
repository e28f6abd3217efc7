//! Talking to the userspace SCSI target `tgt`: `tgtadm` calls with a timeout and their stderr in
//! the error, parsers for what `tgtadm ... --op show` prints, and a `tgtd` child process.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Where a bare program name is looked for besides `PATH` (tgt installs into `/usr/sbin`,
/// which a non-root `PATH` often lacks).
const SBIN: [&str; 3] = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

/// `program` itself when it names a path, else the first match in `PATH` and the sbin
/// directories.
pub(crate) fn locate(program: &Path, package: &str) -> Result<PathBuf, String> {
    if program.components().count() > 1 {
        return if program.is_file() {
            Ok(program.to_path_buf())
        } else {
            Err(format!(
                "{} does not exist (install the '{package}' package or configure its path)",
                program.display()
            ))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "'{}' is not installed (not found in PATH or {}); install the '{package}' package",
                program.display(),
                SBIN.join(", ")
            )
        })
}

/// A `tgtadm` call that failed: the command (passwords redacted), how it ended and its stderr.
#[derive(Debug, Clone)]
pub(crate) struct TgtadmError {
    pub command: String,
    pub outcome: String,
    pub stderr: String,
}

impl TgtadmError {
    /// tgtadm's "can't find the target" / "can't find the account": already gone.
    pub fn is_not_found(&self) -> bool {
        self.stderr.contains("can't find")
    }
}

impl fmt::Display for TgtadmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.command, self.outcome)?;
        if !self.stderr.is_empty() {
            write!(f, ": {}", self.stderr)?;
        }
        Ok(())
    }
}

impl From<TgtadmError> for String {
    fn from(e: TgtadmError) -> String {
        e.to_string()
    }
}

/// One tgtd instance's administration channel.
pub(crate) struct Tgtadm {
    pub program: PathBuf,
    pub control_port: u16,
    pub lld: String,
    pub timeout: Duration,
}

impl Tgtadm {
    /// Runs `tgtadm -C <port> [--lld <lld>] <args>`; its stdout on success.
    pub async fn run(&self, args: &[&str]) -> Result<String, TgtadmError> {
        let port = self.control_port.to_string();
        let mut full: Vec<&str> = vec!["-C", &port];
        // The system mode is the daemon's, not a driver's.
        if !args.windows(2).any(|w| w == ["--mode", "system"]) {
            full.extend(["--lld", self.lld.as_str()]);
        }
        full.extend_from_slice(args);
        let failed = |outcome: String, stderr: String| TgtadmError {
            command: render(&self.program, &full),
            outcome,
            stderr,
        };
        let mut cmd = Command::new(&self.program);
        cmd.args(&full)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let out = match tokio::time::timeout(self.timeout, cmd.output()).await {
            Err(_) => {
                return Err(failed(
                    format!("did not finish within {:?}", self.timeout),
                    String::new(),
                ))
            }
            Ok(Err(e)) => return Err(failed(format!("could not be run ({e})"), String::new())),
            Ok(Ok(out)) => out,
        };
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(failed(format!("failed ({})", out.status), stderr))
        }
    }
}

/// The command line as text for errors and logs, with the value after `--password` hidden.
fn render(program: &Path, args: &[&str]) -> String {
    let mut s = program.display().to_string();
    let mut hide = false;
    for a in args {
        s.push(' ');
        s.push_str(if hide { "***" } else { a });
        hide = *a == "--password";
    }
    s
}

/// One logical unit of a target, as `--mode target --op show` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LunInfo {
    pub lun: u32,
    pub readonly: bool,
    pub path: Option<String>,
}

/// One target, as `--mode target --op show` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TargetInfo {
    pub tid: u32,
    pub name: String,
    pub luns: Vec<LunInfo>,
    /// Incoming accounts (CHAP users) bound to the target.
    pub accounts: Vec<String>,
    /// Initiator names and addresses allowed in.
    pub acls: Vec<String>,
}

impl TargetInfo {
    pub fn lun(&self, lun: u32) -> Option<&LunInfo> {
        self.luns.iter().find(|l| l.lun == lun)
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Parses `tgtadm --mode target --op show`.
pub(crate) fn parse_targets(out: &str) -> Vec<TargetInfo> {
    let mut targets: Vec<TargetInfo> = Vec::new();
    let mut section = "";
    for line in out.lines() {
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if indent(line) == 0 {
            section = "";
            if let Some((tid, name)) = text
                .strip_prefix("Target ")
                .and_then(|r| r.split_once(": "))
            {
                if let Ok(tid) = tid.trim().parse() {
                    targets.push(TargetInfo {
                        tid,
                        name: name.trim().to_owned(),
                        ..TargetInfo::default()
                    });
                }
            }
            continue;
        }
        let Some(t) = targets.last_mut() else {
            continue;
        };
        if indent(line) <= 4 {
            section = match text {
                "LUN information:" => "lun",
                "Account information:" => "account",
                "ACL information:" => "acl",
                _ => "",
            };
            continue;
        }
        match section {
            "lun" => {
                if let Some(n) = text.strip_prefix("LUN: ") {
                    if let Ok(lun) = n.trim().parse() {
                        t.luns.push(LunInfo {
                            lun,
                            readonly: false,
                            path: None,
                        });
                    }
                } else if let Some(l) = t.luns.last_mut() {
                    if let Some(v) = text.strip_prefix("Readonly:") {
                        l.readonly = v.trim().eq_ignore_ascii_case("yes");
                    } else if let Some(v) = text.strip_prefix("Backing store path:") {
                        let v = v.trim();
                        l.path = (v != "None" && !v.is_empty()).then(|| v.to_owned());
                    }
                }
            }
            "account" if !text.ends_with("(outgoing)") => t.accounts.push(text.to_owned()),
            "acl" => t.acls.push(text.to_owned()),
            _ => {}
        }
    }
    targets
}

/// Parses `tgtadm --mode account --op show`.
pub(crate) fn parse_accounts(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| indent(l) > 0)
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Parses `tgtadm --mode portal --op show` (`Portal: 127.0.0.1:3260,1`) into addresses.
pub(crate) fn parse_portals(out: &str) -> Vec<SocketAddr> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Portal:"))
        .filter_map(|p| p.trim().rsplit_once(',').map(|(a, _)| a))
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// Lines of tgtd's stderr kept for error messages.
const LOG_LINES: usize = 40;

/// A `tgtd` this process started, in the foreground as its child: killed when dropped.
pub(crate) struct Daemon {
    child: Child,
    control_port: u16,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Daemon {
    pub fn spawn(program: &Path, portal: SocketAddr, control_port: u16) -> Result<Self, String> {
        let mut child = Command::new(program)
            .arg("-f")
            .arg("--iscsi")
            .arg(format!("portal={portal}"))
            .arg("-C")
            .arg(control_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{} could not be started: {e}", program.display()))?;
        let log = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            let pid = child.id();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::info!(target: "tgtd", pid, "{line}");
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    if log.len() == LOG_LINES {
                        log.pop_front();
                    }
                    log.push_back(line);
                }
            });
        }
        Ok(Daemon {
            child,
            control_port,
            log,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// How it ended, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// What it has said on stderr lately, one line.
    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.iter().cloned().collect::<Vec<_>>().join(" | ")
    }

    /// Kills it (tgtd ignores SIGTERM), reaps it and removes its control socket and lock file,
    /// which tgtd leaves behind.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            let socket = format!("/var/run/tgtd/socket.{}", self.control_port);
            let _ = tokio::fs::remove_file(format!("{socket}.lock")).await;
            let _ = tokio::fs::remove_file(socket).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = "\
Target 1: iqn.2010-10.org.openstack:volume-test
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
        I_T nexus: 1
            Initiator: iqn.1994-05.com.redhat:good alias: none
            Connection: 0
                IP Address: 127.0.0.1
    LUN information:
        LUN: 0
            Type: controller
            SCSI ID: IET     00010000
            Readonly: No
            Backing store type: null
            Backing store path: None
            Backing store flags: 
        LUN: 1
            Type: disk
            Size: 67 MB, Block size: 512
            Readonly: Yes
            Backing store type: rdwr
            Backing store path: /tmp/v.img
            Backing store flags: 
    Account information:
        uabcdefghijklmnop
        out (outgoing)
    ACL information:
        iqn.1994-05.com.redhat:good
Target 3: iqn.x:volume-b
    System information:
        Driver: iscsi
    LUN information:
        LUN: 0
            Backing store path: None
    Account information:
    ACL information:
";

    #[test]
    fn targets_are_read_from_show() {
        let t = parse_targets(SHOW);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].tid, 1);
        assert_eq!(t[0].name, "iqn.2010-10.org.openstack:volume-test");
        assert_eq!(
            t[0].lun(1),
            Some(&LunInfo {
                lun: 1,
                readonly: true,
                path: Some("/tmp/v.img".into())
            })
        );
        assert_eq!(t[0].lun(0).unwrap().path, None);
        assert_eq!(t[0].accounts, vec!["uabcdefghijklmnop".to_owned()]);
        assert_eq!(t[0].acls, vec!["iqn.1994-05.com.redhat:good".to_owned()]);
        assert_eq!(t[1].tid, 3);
        assert!(t[1].lun(1).is_none() && t[1].accounts.is_empty() && t[1].acls.is_empty());
        assert!(parse_targets("").is_empty());
    }

    #[test]
    fn accounts_and_portals_are_read_from_show() {
        assert_eq!(
            parse_accounts("Account list:\n    u1\n    u2\n"),
            vec!["u1".to_owned(), "u2".to_owned()]
        );
        assert!(parse_accounts("Account list:\n").is_empty());
        assert_eq!(
            parse_portals("Portal: 127.0.0.1:13260,1\nPortal: [::]:3260,1\n"),
            vec![
                "127.0.0.1:13260".parse::<SocketAddr>().unwrap(),
                "[::]:3260".parse().unwrap()
            ]
        );
    }

    #[test]
    fn passwords_stay_out_of_error_messages() {
        let s = render(
            Path::new("tgtadm"),
            &["--mode", "account", "--user", "u", "--password", "secret"],
        );
        assert_eq!(s, "tgtadm --mode account --user u --password ***");
    }
}
