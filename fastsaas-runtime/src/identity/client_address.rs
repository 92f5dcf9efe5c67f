//! The client's address, the key of per-address attempt limits.
//!
//! Behind a reverse proxy every request comes from the proxy, so one client
//! could exhaust the limit of all. `X-Forwarded-For` names the real client,
//! but anyone can send that header: it is believed only when the socket peer
//! is listed in `FASTSAAS_TRUSTED_PROXIES`, and then read from the right,
//! skipping further trusted hops, so a client cannot forge its own entry.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

use crate::error::StartupError;

/// The peers whose `X-Forwarded-For` is believed (`FASTSAAS_TRUSTED_PROXIES`).
#[derive(Debug, Default)]
pub(crate) struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses (`10.0.0.7`) and networks
    /// (`10.0.0.0/8`, `fd00::/8`).
    pub(crate) fn parse(list: &str) -> Result<TrustedProxies, StartupError> {
        let networks = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry.parse::<IpNet>().or_else(|_| entry.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                    StartupError::Config(format!(
                        "FASTSAAS_TRUSTED_PROXIES: `{entry}` is neither an IP address nor a network like 10.0.0.0/8"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies(networks))
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client behind `peer`: the peer itself unless it is a trusted
    /// proxy; then the right-most `X-Forwarded-For` hop that is not.
    pub(crate) fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops = headers.get_all("x-forwarded-for").iter().filter_map(|value| value.to_str().ok());
        let hops: Vec<&str> = hops.flat_map(|value| value.split(',')).map(str::trim).collect();
        for hop in hops.iter().rev() {
            // An unreadable hop was written by someone we do not trust: stop
            // at the last proxy we do.
            let Ok(address) = hop.parse::<IpAddr>().map(|address| address.to_canonical()) else {
                break;
            };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        client
    }
}

/// The client's address when the server knows it (absent when the app is
/// served without connection info, as in-process tests may do).
pub(crate) struct ClientAddress(pub(crate) Option<IpAddr>);

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().expect("a valid header value"));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").expect("valid");
        assert_eq!(proxies.client_of(ip("203.0.113.9"), &forwarded(&["198.51.100.1"])), ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_proxy_names_the_right_most_untrusted_hop() {
        let proxies = TrustedProxies::parse(" 10.0.0.0/8 , 192.0.2.1").expect("valid");
        // The client forged the first entry; the proxies appended the rest.
        let headers = forwarded(&["6.6.6.6, 198.51.100.1", "192.0.2.1"]);
        assert_eq!(proxies.client_of(ip("10.1.2.3"), &headers), ip("198.51.100.1"));
    }

    #[test]
    fn without_a_usable_header_the_last_trusted_hop_is_the_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").expect("valid");
        assert_eq!(proxies.client_of(ip("10.1.2.3"), &HeaderMap::new()), ip("10.1.2.3"));
        assert_eq!(proxies.client_of(ip("10.1.2.3"), &forwarded(&["10.9.9.9, bogus"])), ip("10.1.2.3"));
        assert_eq!(proxies.client_of(ip("10.1.2.3"), &forwarded(&["bogus, 10.9.9.9"])), ip("10.9.9.9"));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let proxies = TrustedProxies::parse("127.0.0.1").expect("valid");
        assert_eq!(proxies.client_of(ip("::ffff:127.0.0.1"), &forwarded(&["198.51.100.1"])), ip("198.51.100.1"));
    }

    #[test]
    fn a_bad_entry_is_refused_at_start_up() {
        let err = TrustedProxies::parse("10.0.0.0/8, localhost").expect_err("invalid");
        assert!(err.to_string().contains("`localhost`"), "{err}");
    }
}
