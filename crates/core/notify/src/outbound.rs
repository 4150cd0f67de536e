//! Where the notifier may connect. A `notify_url` is the merchant's to choose, so without a
//! guard it would let any merchant make the platform call its own network (loopback admin
//! ports, private services, the cloud metadata endpoint) and read the outcome back: server-side
//! request forgery. The guard refuses every address that is not public, for names as well as
//! literal addresses, and it is the notifier's only resolver: the connection goes to an address
//! it checked, with no second lookup a DNS answer could change in between.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::NotifyError;

/// What a deployment lets the notifier reach beyond public addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Loopback addresses (sandbox mode: the demo's and the tests' receivers run there).
    pub allow_loopback: bool,
    /// Host names the operator permits whatever they resolve to (internal receivers of the
    /// deployment's own): exact names, or `.corp.example` for every name under it.
    pub allowed_hosts: Vec<String>,
}

/// Why an address is refused; `None` for a public one.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (127, _, _) => "loopback",
        (0, _, _) => "unspecified",
        (10, _, _) | (192, 168, _) => "private",
        (172, 16..=31, _) => "private",
        // Shared address space (carrier NAT), also where Alibaba Cloud's metadata lives.
        (100, 64..=127, _) => "private",
        // Link-local, with the metadata endpoint of most clouds (169.254.169.254).
        (169, 254, _) => "link-local",
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "reserved",
        (198, 18..=19, _) => "reserved",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // IPv4 carried in IPv6 is judged as the IPv4 address it reaches.
    if let Some(v4) = embedded_v4(ip) {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    Some(match s[0] {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        0xfc00..=0xfdff => "unique-local",
        0xfe80..=0xfebf => "link-local",
        // Site-local, deprecated but still routed inside some networks.
        0xfec0..=0xfeff => "private",
        0xff00..=0xffff => "multicast",
        0x2001 if s[1] == 0x0db8 => "reserved",
        0x0100 if s[1..4] == [0, 0, 0] => "reserved",
        // The rest of ::/8 (IPv4-compatible and other legacy forms not handled above).
        0x0000 => "reserved",
        _ => return None,
    })
}

/// The IPv4 address an IPv6 one stands for: mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(tail());
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// The error the guard gives the HTTP client when it refuses a name; found again in the error
/// chain to tell the merchant "address not allowed" rather than a connection error.
#[derive(Debug, thiserror::Error)]
#[error("address not allowed ({0})")]
pub struct Refused(pub &'static str);

impl OutboundPolicy {
    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allowed_hosts.iter().any(|a| {
            let a = a.trim_end_matches('.').to_ascii_lowercase();
            match a.strip_prefix('.') {
                Some(suffix) => host.ends_with(&format!(".{suffix}")),
                None => host == a,
            }
        })
    }

    /// Refuses an address unless it is public (or loopback where allowed).
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        match forbidden(ip) {
            None => Ok(()),
            Some("loopback") if self.allow_loopback => Ok(()),
            Some(why) => Err(Refused(why)),
        }
    }

    /// Every address of a name must pass: a name that resolves to one public and one private
    /// address could be connected to either.
    fn check_all(&self, host: &str, addrs: &[SocketAddr]) -> Result<(), Refused> {
        if self.host_allowed(host) {
            return Ok(());
        }
        if addrs.is_empty() {
            return Err(Refused("no address"));
        }
        addrs.iter().try_for_each(|a| self.check_ip(a.ip()))
    }

    /// What can be decided without the network: an absolute http(s) URL whose host, if it is
    /// a literal address, may be reached.
    pub fn check_url_syntax(&self, url: &str) -> Result<reqwest::Url, NotifyError> {
        crate::validate_notify_url(url)?;
        let parsed =
            reqwest::Url::parse(url).map_err(|_| NotifyError::Invalid("notify_url".into()))?;
        if let Some(Refused(why)) = self.refused_literal(&parsed) {
            return Err(NotifyError::Invalid(format!(
                "notify_url must point to a public address ({why} addresses are not allowed)"
            )));
        }
        Ok(parsed)
    }

    /// The refusal of a URL whose host is a literal address the policy refuses. Names
    /// (`localhost` included) are judged by what they resolve to, at creation and by the
    /// resolver at each attempt.
    pub fn refused_literal(&self, url: &reqwest::Url) -> Option<Refused> {
        let ip = literal(url.host_str()?)?;
        self.check_ip(ip).err()
    }

    /// The check when a payment is created: the syntax, then the name's addresses. A name that
    /// does not resolve now is let through (DNS may be down for a moment; delivery checks again),
    /// but one that resolves to a refused address can never be delivered.
    pub async fn check_url(&self, url: &str) -> Result<(), NotifyError> {
        let parsed = self.check_url_syntax(url)?;
        let Some(host) = parsed.host_str().filter(|h| literal(h).is_none()) else {
            return Ok(());
        };
        if self.host_allowed(host) {
            return Ok(());
        }
        let port = parsed.port_or_known_default().unwrap_or(80);
        let lookup = tokio::net::lookup_host((host, port));
        let Ok(Ok(addrs)) = tokio::time::timeout(Duration::from_secs(2), lookup).await else {
            return Ok(());
        };
        let addrs: Vec<SocketAddr> = addrs.collect();
        match self.check_all(host, &addrs) {
            Err(Refused(why)) if why != "no address" => Err(NotifyError::Invalid(format!(
                "notify_url must point to a public address ({why} addresses are not allowed)"
            ))),
            _ => Ok(()),
        }
    }
}

/// The address a URL's host names literally (`[…]` around IPv6), if it does.
fn literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The notifier's resolver: resolves, then refuses the name unless every address passes.
pub(crate) struct GuardedResolver(pub Arc<OutboundPolicy>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            policy.check_all(&host, &addrs)?;
            let out: Addrs = Box::new(addrs.into_iter());
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_pass() {
        for (addr, why) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.0.10", "private"),
            ("100.100.100.200", "private"),
            ("169.254.169.254", "link-local"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00:ec2::254", "unique-local"),
            ("fc00::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.0.0.1", "private"),
            ("::10.0.0.1", "private"),
            ("64:ff9b::a00:1", "private"),
            ("2002:c0a8:0001::1", "private"),
            ("2001:db8::1", "reserved"),
        ] {
            assert_eq!(forbidden(ip(addr)), Some(why), "{addr}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(forbidden(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn loopback_only_where_allowed_and_named_hosts_by_the_operator() {
        let strict = OutboundPolicy::default();
        let sandbox = OutboundPolicy {
            allow_loopback: true,
            ..OutboundPolicy::default()
        };
        assert!(strict.check_url_syntax("http://127.0.0.1:8080/n").is_err());
        assert!(strict.check_url_syntax("http://[::ffff:7f00:1]/n").is_err());
        assert!(strict
            .check_url_syntax("http://169.254.169.254/latest")
            .is_err());
        assert!(sandbox.check_url_syntax("http://127.0.0.1:8080/n").is_ok());
        assert!(sandbox.check_url_syntax("http://10.0.0.1/n").is_err());
        assert!(strict.check_url_syntax("https://shop.example/n").is_ok());
        let internal = SocketAddr::new(ip("10.0.0.7"), 443);
        let listed = OutboundPolicy {
            allowed_hosts: vec!["hooks.corp.example".into(), ".int.example".into()],
            ..OutboundPolicy::default()
        };
        assert!(listed.check_all("hooks.corp.example", &[internal]).is_ok());
        assert!(listed.check_all("a.int.example", &[internal]).is_ok());
        assert!(listed.check_all("int.example.evil", &[internal]).is_err());
        assert!(listed.check_all("other.example", &[internal]).is_err());
        let mixed = [SocketAddr::new(ip("8.8.8.8"), 80), internal];
        assert!(strict.check_all("mixed.example", &mixed).is_err());
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_loopback() {
        let name = |n: &str| n.parse::<Name>().unwrap();
        let strict = GuardedResolver(Arc::new(OutboundPolicy::default()));
        let e = strict.resolve(name("localhost")).await.err().unwrap();
        assert!(
            e.to_string().contains("address not allowed (loopback)"),
            "{e}"
        );
        let sandbox = GuardedResolver(Arc::new(OutboundPolicy {
            allow_loopback: true,
            ..OutboundPolicy::default()
        }));
        let addrs: Vec<SocketAddr> = sandbox.resolve(name("localhost")).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        let e = OutboundPolicy::default()
            .check_url("http://localhost:9/n")
            .await;
        assert!(e.is_err(), "refused when the payment is created: {e:?}");
        let unknown = OutboundPolicy::default()
            .check_url("http://does-not-exist.invalid/n")
            .await;
        assert!(unknown.is_ok(), "unresolvable now: delivery decides");
    }
}
