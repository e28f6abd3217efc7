//! The handshake and option haggling of fixed newstyle negotiation, up to the start of the
//! transmission phase. Names are never listed, and when TLS is required nothing but STARTTLS
//! and ABORT is answered before TLS is up.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::exports::{Attachment, ExportTable};
use crate::proto::*;
use crate::ConnError;

/// What negotiation ended with.
pub(crate) enum Negotiated {
    /// `NBD_OPT_GO` or `NBD_OPT_EXPORT_NAME` succeeded: transmission starts on the same stream.
    Transmit(Attachment),
    /// STARTTLS was acknowledged: the caller runs the TLS handshake and negotiates again.
    StartTls,
    /// The client aborted, or asked for an export that cannot be answered with an error.
    Closed,
}

/// What a negotiation may offer, fixed per connection.
pub(crate) struct Policy<'a> {
    pub table: &'a ExportTable,
    /// A TLS configuration exists, so STARTTLS can be accepted.
    pub tls_available: bool,
    pub tls_required: bool,
    /// TLS is already up on this stream.
    pub tls_active: bool,
}

/// Sends the greeting and reads the client flags; returns whether the client asked to skip the
/// 124 zero bytes after `NBD_OPT_EXPORT_NAME`.
pub(crate) async fn handshake<S>(s: &mut S) -> Result<bool, ConnError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    send(s, &greeting()).await?;
    let flags = s.read_u32().await?;
    if flags & !(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES) != 0 {
        return Err(ConnError::protocol(format!(
            "unknown client flags {flags:#x}"
        )));
    }
    if flags & FLAG_C_FIXED_NEWSTYLE == 0 {
        return Err(ConnError::protocol(
            "client does not speak fixed newstyle".into(),
        ));
    }
    Ok(flags & FLAG_C_NO_ZEROES != 0)
}

/// Answers options until one starts transmission, STARTTLS or the end of the connection.
pub(crate) async fn negotiate<S>(
    s: &mut S,
    policy: &Policy<'_>,
    no_zeroes: bool,
) -> Result<Negotiated, ConnError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let magic = s.read_u64().await?;
        if magic != IHAVEOPT {
            return Err(ConnError::protocol(format!("bad option magic {magic:#x}")));
        }
        let option = s.read_u32().await?;
        let len = s.read_u32().await?;
        if len > MAX_OPTION_LEN {
            return Err(ConnError::protocol(format!(
                "option {option} with {len} bytes of data"
            )));
        }
        let mut data = vec![0u8; len as usize];
        s.read_exact(&mut data).await?;

        if policy.tls_required && !policy.tls_active && !matches!(option, OPT_STARTTLS | OPT_ABORT)
        {
            if option == OPT_EXPORT_NAME {
                tracing::warn!("NBD_OPT_EXPORT_NAME before the required STARTTLS");
                return Ok(Negotiated::Closed);
            }
            reply(s, option, REP_ERR_TLS_REQD, b"TLS is required").await?;
            continue;
        }

        match option {
            OPT_EXPORT_NAME => return export_name(s, policy, &data, no_zeroes).await,
            OPT_ABORT => {
                // The client may already have closed; the acknowledgement is a courtesy.
                let _ = reply(s, option, REP_ACK, &[]).await;
                return Ok(Negotiated::Closed);
            }
            OPT_LIST if !data.is_empty() => {
                reply(s, option, REP_ERR_INVALID, b"LIST takes no data").await?
            }
            // Export names are credentials: the list is always empty.
            OPT_LIST => reply(s, option, REP_ACK, &[]).await?,
            OPT_STARTTLS => {
                let refusal = if !data.is_empty() || policy.tls_active {
                    Some((REP_ERR_INVALID, &b"TLS cannot start here"[..]))
                } else if !policy.tls_available {
                    Some((REP_ERR_POLICY, &b"TLS is not configured"[..]))
                } else {
                    None
                };
                match refusal {
                    Some((code, msg)) => reply(s, option, code, msg).await?,
                    None => {
                        reply(s, option, REP_ACK, &[]).await?;
                        return Ok(Negotiated::StartTls);
                    }
                }
            }
            OPT_INFO | OPT_GO => {
                if let Some(attachment) = info_or_go(s, policy, option, &data).await? {
                    return Ok(Negotiated::Transmit(attachment));
                }
            }
            _ => {
                tracing::debug!(option, "unsupported NBD option");
                reply(s, option, REP_ERR_UNSUP, b"unsupported option").await?
            }
        }
    }
}

/// `NBD_OPT_EXPORT_NAME`: the old way to choose an export, which has no error reply, so an
/// unknown name closes the connection.
async fn export_name<S>(
    s: &mut S,
    policy: &Policy<'_>,
    data: &[u8],
    no_zeroes: bool,
) -> Result<Negotiated, ConnError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(attachment) = attach(policy.table, data) else {
        tracing::warn!("NBD_OPT_EXPORT_NAME for an unknown export");
        return Ok(Negotiated::Closed);
    };
    let export = &attachment.export;
    let mut b = Vec::with_capacity(134);
    b.extend_from_slice(&export.device.size().to_be_bytes());
    b.extend_from_slice(&transmission_flags(export.read_only).to_be_bytes());
    if !no_zeroes {
        b.extend_from_slice(&[0u8; 124]);
    }
    send(s, &b).await?;
    Ok(Negotiated::Transmit(attachment))
}

/// `NBD_OPT_INFO` and `NBD_OPT_GO`: describes the export; GO also attaches to it.
async fn info_or_go<S>(
    s: &mut S,
    policy: &Policy<'_>,
    option: u32,
    data: &[u8],
) -> Result<Option<Attachment>, ConnError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(name) = parse_info_request(data) else {
        reply(s, option, REP_ERR_INVALID, b"malformed request").await?;
        return Ok(None);
    };
    let Some(attachment) = attach(policy.table, name) else {
        tracing::debug!(option, "NBD_OPT_INFO/GO for an unknown export");
        reply(s, option, REP_ERR_UNKNOWN, b"unknown export").await?;
        return Ok(None);
    };
    let export = &attachment.export;
    // The block-size constraints are sent whether or not the client asked: they are lax
    // (any alignment) and tell it the 32 MiB payload limit.
    let info = info_export(export.device.size(), transmission_flags(export.read_only));
    let mut b = option_reply(option, REP_INFO, &info);
    b.extend_from_slice(&option_reply(option, REP_INFO, &info_block_size()));
    b.extend_from_slice(&option_reply(option, REP_ACK, &[]));
    send(s, &b).await?;
    Ok((option == OPT_GO).then_some(attachment))
}

/// The export name of an INFO/GO request (`u32` length, name, `u16` count, `u16` info types),
/// or `None` when the lengths do not add up.
fn parse_info_request(data: &[u8]) -> Option<&[u8]> {
    let name_len = u32::from_be_bytes(data.get(..4)?.try_into().ok()?) as usize;
    if name_len > MAX_NAME_LEN {
        return None;
    }
    let name = data.get(4..4 + name_len)?;
    let rest = &data[4 + name_len..];
    let count = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
    (rest.len() == 2 + 2 * count).then_some(name)
}

fn attach(table: &ExportTable, name: &[u8]) -> Option<Attachment> {
    if name.len() > MAX_NAME_LEN {
        return None;
    }
    table.attach(std::str::from_utf8(name).ok()?)
}

fn transmission_flags(read_only: bool) -> u16 {
    let mut flags = TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH | TFLAG_SEND_FUA;
    if read_only {
        flags |= TFLAG_READ_ONLY;
    } else {
        flags |= TFLAG_SEND_TRIM | TFLAG_SEND_WRITE_ZEROES;
    }
    flags
}

async fn reply<S>(s: &mut S, option: u32, kind: u32, data: &[u8]) -> Result<(), ConnError>
where
    S: AsyncWrite + Unpin,
{
    send(s, &option_reply(option, kind, data)).await
}

async fn send<S>(s: &mut S, bytes: &[u8]) -> Result<(), ConnError>
where
    S: AsyncWrite + Unpin,
{
    s.write_all(bytes).await?;
    s.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_requests_must_add_up() {
        let mut ok = 3u32.to_be_bytes().to_vec();
        ok.extend_from_slice(b"abc");
        ok.extend_from_slice(&1u16.to_be_bytes());
        ok.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
        assert_eq!(parse_info_request(&ok), Some(&b"abc"[..]));
        assert_eq!(parse_info_request(&ok[..ok.len() - 1]), None);
        let mut long = ok.clone();
        long.push(0);
        assert_eq!(parse_info_request(&long), None);
        assert_eq!(parse_info_request(&u32::MAX.to_be_bytes()), None);
        assert_eq!(parse_info_request(&[]), None);
    }

    #[test]
    fn read_only_exports_do_not_offer_trim_or_zeroes() {
        let ro = transmission_flags(true);
        assert_ne!(ro & TFLAG_READ_ONLY, 0);
        assert_eq!(ro & (TFLAG_SEND_TRIM | TFLAG_SEND_WRITE_ZEROES), 0);
        assert_eq!(transmission_flags(false) & TFLAG_READ_ONLY, 0);
    }
}
