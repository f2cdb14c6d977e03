//! AutoMTLS, as go-plugin negotiates it when the host sets
//! `PLUGIN_CLIENT_CERT` (Nomad never does; other go-plugin hosts may).
//!
//! The host sends its certificate in the environment; the plugin makes a
//! one-time certificate of its own, announces it (base64 DER) in the
//! handshake line, and accepts only TLS connections that present exactly
//! the host's certificate. Both certificates are self-signed CA
//! certificates on P-521 keys, used as end-entity certificates. webpki
//! refuses such certificates in ordinary chain validation, so the host's
//! certificate is pinned (byte-for-byte equality) and only the handshake
//! signatures are verified, with aws-lc-rs (ring has no P-521).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::ServeError;

/// A certificate made the way go-plugin makes its own: P-521, self-signed,
/// `CN=localhost`, SAN `localhost`, CA, client and server auth, valid from
/// 30 s ago for about 30 years.
pub struct GeneratedCert {
    /// DER encoding of the certificate.
    pub der: Vec<u8>,
    /// PEM encoding of the certificate.
    pub pem: String,
    /// PKCS#8 DER encoding of the private key.
    pub key_pkcs8_der: Vec<u8>,
}

/// Generates a go-plugin style AutoMTLS certificate.
pub fn generate_cert() -> Result<GeneratedCert, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P521_SHA512,
    };
    let key = KeyPair::generate_for(&PKCS_ECDSA_P521_SHA512).map_err(|e| e.to_string())?;
    let mut params =
        CertificateParams::new(vec!["localhost".to_string()]).map_err(|e| e.to_string())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    dn.push(DnType::OrganizationName, "HashiCorp");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::seconds(30);
    params.not_after = now + time::Duration::hours(262_980);
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|e| e.to_string())?;
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok(GeneratedCert {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        key_pkcs8_der: key.serialize_der(),
    })
}

/// The crypto provider used on both sides: aws-lc-rs, for P-521.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// One pinned peer certificate: the only one accepted, whatever its
/// issuer (go-plugin's certificates are self-signed CA-as-leaf, which
/// webpki refuses), plus the signature checks that prove the peer holds its
/// key. Both directions of AutoMTLS use it.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl Pinned {
    fn check(&self, presented: &CertificateDer<'_>, refusal: &str) -> Result<(), rustls::Error> {
        if presented.as_ref() == self.cert.as_ref() {
            Ok(())
        } else {
            Err(rustls::Error::General(refusal.into()))
        }
    }

    fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Accepts exactly one client certificate (PLUGIN_CLIENT_CERT).
#[derive(Debug)]
struct PinnedClient(Pinned);

impl ClientCertVerifier for PinnedClient {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0.check(
            end_entity,
            "client certificate is not the one the host announced in PLUGIN_CLIENT_CERT",
        )?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.schemes()
    }
}

/// The plugin's side of AutoMTLS: an acceptor and the certificate field of
/// the handshake line.
pub(crate) struct ServerTls {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    /// base64 (standard alphabet, no padding) of the server certificate.
    pub(crate) cert_field: String,
}

/// Sets up AutoMTLS from the host's PEM certificate.
pub(crate) fn server(client_cert_pem: &str) -> Result<ServerTls, ServeError> {
    use base64::Engine;
    let client = CertificateDer::from_pem_slice(client_cert_pem.as_bytes()).map_err(|e| {
        ServeError::Tls(format!("PLUGIN_CLIENT_CERT is not a PEM certificate: {e}"))
    })?;
    let own = generate_cert().map_err(ServeError::Tls)?;
    let provider = provider();
    let verifier = Arc::new(PinnedClient(Pinned {
        cert: client,
        provider: provider.clone(),
    }));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(own.der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(own.key_pkcs8_der)),
        )
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(ServerTls {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        cert_field: base64::engine::general_purpose::STANDARD_NO_PAD.encode(&own.der),
    })
}

/// A TLS connection tonic can serve.
pub(crate) struct TlsConn<S>(pub(crate) tokio_rustls::server::TlsStream<S>);

impl<S> tonic::transport::server::Connected for TlsConn<S> {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsConn<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsConn<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Turns a stream of plain connections into a stream of TLS connections;
/// failed handshakes (a wrong client certificate, garbage) are logged and
/// dropped, and the plugin keeps serving.
pub(crate) fn accept_stream<S, I>(
    acceptor: tokio_rustls::TlsAcceptor,
    mut incoming: I,
) -> tokio_stream::wrappers::ReceiverStream<io::Result<TlsConn<S>>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    I: futures::Stream<Item = io::Result<S>> + Unpin + Send + 'static,
{
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(conn) = incoming.next().await {
            let conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let handshake =
                    tokio::time::timeout(std::time::Duration::from_secs(30), acceptor.accept(conn))
                        .await;
                match handshake {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(TlsConn(tls))).await;
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "TLS handshake with a client failed"),
                    Err(_) => tracing::warn!("TLS handshake with a client timed out"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Accepts exactly one server certificate (the one from the handshake
/// line).
#[derive(Debug)]
struct PinnedServer(Pinned);

impl rustls::client::danger::ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.0.check(
            end_entity,
            "server certificate is not the one the plugin announced in its handshake line",
        )?;
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.schemes()
    }
}

/// The host's side of AutoMTLS: a client configuration that presents `own`
/// and accepts only the plugin certificate `server_der` from the handshake
/// line. Used by the testkit's launcher.
pub fn client_config(
    own: &GeneratedCert,
    server_der: &[u8],
) -> Result<rustls::ClientConfig, String> {
    let verifier = Arc::new(PinnedServer(Pinned {
        cert: CertificateDer::from(server_der.to_vec()),
        provider: provider(),
    }));
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(
            vec![CertificateDer::from(own.der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(own.key_pkcs8_der.clone())),
        )
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_cert_looks_like_go_plugins() {
        let cert = generate_cert().expect("generate");
        assert!(cert.pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let parsed = CertificateDer::from_pem_slice(cert.pem.as_bytes()).expect("pem");
        assert_eq!(parsed.as_ref(), cert.der.as_slice());
        // The P-521 OID (1.3.132.0.35) and the localhost SAN are in the DER.
        let p521 = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
        assert!(cert.der.windows(p521.len()).any(|w| w == p521));
        assert!(cert.der.windows(9).any(|w| w == b"localhost"));
    }

    #[test]
    fn server_refuses_garbage_client_cert() {
        assert!(server("not a pem").is_err());
        let host = generate_cert().expect("generate");
        let tls = server(&host.pem).expect("server");
        assert!(tls.cert_field.len() > 50);
        assert!(!tls.cert_field.ends_with('='));
    }
}
