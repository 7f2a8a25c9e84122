//! Pulling plugins from OCI registries and pushing them there, in the
//! Wasm artifact layout other tools use (`wkg`, `wash`, `oras`): an image
//! manifest with one `application/wasm` layer and a
//! `application/vnd.wasm.config.v0+json` config.
//!
//! HTTPS, trusting the system's roots and the `--registry-ca`
//! certificates. A loopback registry, or one `--insecure-registry` names,
//! is tried over HTTPS first and then over plain HTTP, as `docker` does.
//!
//! What a pull checks: the manifest's digest against an `@sha256:`
//! reference; one component layer; its size against `--oci-max-bytes`
//! before a byte of it is read, and again while reading; its bytes
//! against the layer digest. Only checked bytes reach the cache.
//!
//! A signature travels as an artifact of its own, tagged by the OCI
//! referrers tag scheme: `sha256-HEX` of the plugin manifest's digest,
//! one layer of [`SIGNATURE_MEDIA_TYPE`] holding the bytes
//! `yell-host sign` writes to `X.wasm.sig`.
//!
//! Owns: [`Registry`], [`RegistryConfig`], [`Pulled`]. Uses: the cache,
//! the references, the credentials.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::client::{Config, ImageLayer};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::cache::{ManifestRecord, OciCache};
use super::credentials::credentials_for;
use super::reference::{is_loopback, OciReference};
use yell_runtime::{digest, digest_hex};

/// The media type of a plugin's signature layer.
pub const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.yell-host.signature.v1";
/// The empty config an artifact without one carries (OCI 1.1).
const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// Largest signature read (an ed25519 signature file is under 200 bytes).
const MOST_SIGNATURE_BYTES: u64 = 64 * 1024;

/// How registries are reached, and what a pull may take.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Hosts (or `HOST:PORT`) that may be reached over plain HTTP besides
    /// loopback ones.
    pub insecure: Vec<String>,
    /// PEM certificates trusted besides the system's roots.
    pub ca: Option<PathBuf>,
    /// Most bytes one component pull may download.
    pub max_bytes: u64,
    /// Where pulls are kept.
    pub cache: OciCache,
}

/// A component pulled (or found in the cache), checked.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub bytes: Vec<u8>,
    /// The manifest's digest, `sha256:HEX`.
    pub manifest: String,
    /// Its signature's bytes, when asked for and found.
    pub signature: Option<Vec<u8>>,
}

/// Registries, as one process reaches them.
pub struct Registry {
    config: RegistryConfig,
    roots: Vec<Certificate>,
    /// Registries that answered over plain HTTP: not tried over HTTPS again.
    plain_http: Mutex<HashSet<String>>,
    /// The clients made so far, by protocol (HTTPS or not) and registry,
    /// with the credentials they were made for. Making one loads the
    /// system's roots (about 100 ms of CPU with OpenSSL 3), so a process
    /// makes each once and reuses it for every pull and poll; a new one
    /// is made when the credentials change, because a client keeps the
    /// first credentials and the tokens they bought.
    clients: Mutex<HashMap<(bool, String), (RegistryAuth, Client)>>,
}

/// Whether a registry failure is one of reaching it (so that a cached
/// resolution may serve), not one of its answers.
pub fn is_unreachable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        if let Some(OciDistributionError::RequestError(request)) =
            cause.downcast_ref::<OciDistributionError>()
        {
            return request.is_connect() || request.is_timeout();
        }
        if let Some(OciDistributionError::ServerError { code, .. }) =
            cause.downcast_ref::<OciDistributionError>()
        {
            return *code >= 500;
        }
        cause.downcast_ref::<Unreachable>().is_some()
    })
}

/// The registry could not be reached (over any protocol it may be).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Unreachable(String);

impl Registry {
    /// Reads the `--registry-ca` certificates now, so a wrong file is said
    /// at start.
    pub fn new(config: RegistryConfig) -> Result<Registry> {
        let roots = match &config.ca {
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("--registry-ca {}: cannot read it", path.display()))?;
                if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                    bail!("--registry-ca {}: no PEM certificate in it", path.display());
                }
                vec![Certificate {
                    encoding: CertificateEncoding::Pem,
                    data: pem,
                }]
            }
            None => Vec::new(),
        };
        Ok(Registry {
            config,
            roots,
            plain_http: Mutex::new(HashSet::new()),
            clients: Mutex::new(HashMap::new()),
        })
    }

    pub fn cache(&self) -> &OciCache {
        &self.config.cache
    }

    /// The client for `registry` over HTTPS (or plain HTTP) with `auth`.
    fn client(&self, https: bool, registry: &str, auth: &RegistryAuth) -> Result<Client> {
        let mut clients = self.clients.lock().unwrap();
        let key = (https, registry.to_string());
        if let Some((made_for, client)) = clients.get(&key) {
            if made_for == auth {
                return Ok(client.clone());
            }
        }
        let client = self.new_client(https)?;
        clients.insert(key, (auth.clone(), client.clone()));
        Ok(client)
    }

    fn new_client(&self, https: bool) -> Result<Client> {
        let config = ClientConfig {
            protocol: if https {
                ClientProtocol::Https
            } else {
                ClientProtocol::Http
            },
            extra_root_certificates: self.roots.clone(),
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(30)),
            ..ClientConfig::default()
        };
        // try_from, not new: new falls back to a default client (without
        // the CA) on a bad certificate.
        Client::try_from(config).context("setting up the registry client")
    }

    fn may_use_http(&self, reference: &OciReference) -> bool {
        is_loopback(reference.host())
            || self
                .config
                .insecure
                .iter()
                .any(|host| host == reference.host() || host == reference.registry())
    }

    /// Runs `op` with a client for `reference`'s registry: over HTTPS, or
    /// (for a registry that may be reached so) over plain HTTP when
    /// HTTPS cannot connect.
    async fn with_client<T, F, Fut>(
        &self,
        reference: &OciReference,
        auth: &RegistryAuth,
        op: F,
    ) -> Result<T>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let registry = reference.registry().to_string();
        let known_plain = self.plain_http.lock().unwrap().contains(&registry);
        if known_plain {
            return op(self.client(false, &registry, auth)?).await;
        }
        match op(self.client(true, &registry, auth)?).await {
            Ok(done) => Ok(done),
            Err(error) if self.may_use_http(reference) && is_connect_failure(&error) => {
                match op(self.client(false, &registry, auth)?).await {
                    Ok(done) => {
                        self.plain_http.lock().unwrap().insert(registry);
                        Ok(done)
                    }
                    Err(plain) if is_connect_failure(&plain) => Err(anyhow!(Unreachable(format!(
                        "cannot reach {registry}: over HTTPS: {}; over plain HTTP: {}",
                        cause_text(&error),
                        cause_text(&plain)
                    )))),
                    // A registry's answer over plain HTTP: that is how it
                    // is reached, and its answer is what counts.
                    Err(plain) if is_registry_answer(&plain) => {
                        self.plain_http.lock().unwrap().insert(registry);
                        Err(plain)
                    }
                    // Something else answered plain HTTP (a TLS server
                    // does, with a 400): the HTTPS failure is the news.
                    Err(plain) => Err(plain.context(format!(
                        "over HTTPS: {}; over plain HTTP",
                        cause_text(&error)
                    ))),
                }
            }
            Err(error) if is_connect_failure(&error) => Err(anyhow!(Unreachable(format!(
                "cannot reach {registry} over HTTPS: {}",
                cause_text(&error)
            )))),
            Err(error) => Err(error),
        }
    }

    /// The manifest `reference` names now, and its digest, checked against
    /// the reference's digest when it has one.
    async fn resolve(
        &self,
        reference: &OciReference,
        auth: &RegistryAuth,
    ) -> Result<(OciImageManifest, String)> {
        let (manifest, digest) = self
            .with_client(reference, auth, |client| {
                let auth = auth.clone();
                async move {
                    client
                        .pull_image_manifest(reference.inner(), &auth)
                        .await
                        .map_err(|error| explained(error, reference))
                }
            })
            .await?;
        if let Some(wanted) = reference.digest() {
            if wanted != digest {
                bail!(
                    "{}: the registry's manifest has the digest {digest}, not the manifest digest {wanted} the reference pins",
                    reference.shown()
                );
            }
        }
        Ok((manifest, digest))
    }

    /// The plugin `reference` names, with its signature if `signed`: from
    /// the cache when it holds the digest (a digest reference never asks
    /// the registry then), else pulled, checked and cached. A tag whose
    /// registry cannot be reached serves the digest it resolved to last,
    /// with a warning.
    pub async fn fetch(&self, reference: &OciReference, signed: bool) -> Result<Pulled> {
        let cache = &self.config.cache;
        if let Some(digest) = reference.digest() {
            if let Some(pulled) = self.cached(digest, signed) {
                return Ok(pulled);
            }
        }
        // Read once per pull (a credential helper is a process to run),
        // and only past the cache: a cached digest starts without them.
        let auth = credentials_for(reference.registry())?;
        let resolved = match self.resolve(reference, &auth).await {
            Ok(resolved) => resolved,
            Err(error) if is_unreachable(&error) && reference.digest().is_none() => {
                let last = cache.tag(&reference.tag_key());
                if let Some(pulled) = last.and_then(|digest| self.cached(&digest, signed)) {
                    tracing::warn!(
                        "{}: {error:#}; serving {}, what the tag resolved to last",
                        reference.shown(),
                        pulled.manifest
                    );
                    return Ok(pulled);
                }
                return Err(error.context(format!(
                    "{}: not pulled here before, so not in the cache either",
                    reference.shown()
                )));
            }
            Err(error) if is_unreachable(&error) => {
                return Err(error.context(format!(
                    "{}: not pulled here before, so not in the cache either",
                    reference.shown()
                )))
            }
            Err(error) => return Err(error),
        };
        let (manifest, manifest_digest) = resolved;
        let layer = component_layer(&manifest, reference)?;
        if reference.digest().is_none() {
            if let Err(error) = cache.put_tag(&reference.tag_key(), &manifest_digest) {
                tracing::warn!("{error:#}");
            }
        }
        let at_digest = reference.at_digest(&manifest_digest);
        let bytes = match cache.blob(&layer.digest) {
            Some(bytes) => bytes,
            None => {
                let bytes = self
                    .download(
                        reference,
                        &auth,
                        &at_digest,
                        &layer,
                        self.config.max_bytes,
                        "--oci-max-bytes",
                    )
                    .await?;
                cache.put_blob(&bytes)?;
                bytes
            }
        };
        let signature = if signed {
            self.pull_signature(reference, &auth, &manifest_digest)
                .await?
        } else {
            None
        };
        let signature_digest = match &signature {
            Some(bytes) => Some(cache.put_blob(bytes)?),
            None => None,
        };
        cache.put_manifest(
            &manifest_digest,
            &ManifestRecord {
                layer: layer.digest.clone(),
                size: layer.size.max(0) as u64,
                signature: signature_digest,
            },
        )?;
        Ok(Pulled {
            bytes,
            manifest: manifest_digest,
            signature,
        })
    }

    /// The layer digest `reference`'s tag names now (for a poll: equal to
    /// the serving component's digest when nothing moved).
    pub async fn current_layer(&self, reference: &OciReference) -> Result<String> {
        let auth = credentials_for(reference.registry())?;
        let (manifest, _) = self.resolve(reference, &auth).await?;
        Ok(component_layer(&manifest, reference)?.digest)
    }

    /// The cached plugin of the manifest `digest`, with its signature if
    /// `signed` (a signature not cached means a pull).
    fn cached(&self, digest: &str, signed: bool) -> Option<Pulled> {
        let cache = &self.config.cache;
        let record = cache.manifest(digest)?;
        let signature = match (&record.signature, signed) {
            (Some(signature), true) => Some(cache.blob(signature)?),
            (None, true) => return None,
            (_, false) => None,
        };
        let bytes = cache.blob(&record.layer)?;
        Some(Pulled {
            bytes,
            manifest: digest.to_string(),
            signature,
        })
    }

    /// Downloads the blob `layer` of `image`, at most `cap` bytes (`flag`
    /// sets it), and checks its digest.
    async fn download(
        &self,
        reference: &OciReference,
        auth: &RegistryAuth,
        image: &Reference,
        layer: &OciDescriptor,
        cap: u64,
        flag: &str,
    ) -> Result<Vec<u8>> {
        let shown = reference.shown();
        let announced = layer.size.max(0) as u64;
        if announced > cap {
            bail!(
                "{shown}: its layer is {announced} bytes, more than {flag} ({cap}): refused before downloading"
            );
        }
        let result = self
            .with_client(reference, auth, |client| async move {
                client
                    .store_auth_if_needed(image.resolve_registry(), auth)
                    .await;
                let mut stream = client
                    .pull_blob_stream(image, layer)
                    .await
                    .map_err(|error| explained(error, reference))?;
                if let Some(length) = stream.content_length {
                    if length > cap {
                        bail!("{shown}: the registry sends {length} bytes for its layer, more than {flag} ({cap}): refused");
                    }
                }
                let mut bytes = Vec::with_capacity(announced as usize);
                let mut failed = None;
                while let Some(chunk) = stream.next().await {
                    match chunk {
                        Ok(chunk) => {
                            if bytes.len() as u64 + chunk.len() as u64 > cap {
                                bail!("{shown}: the registry sent more than {flag} ({cap}) bytes for its layer: refused");
                            }
                            bytes.extend_from_slice(&chunk);
                        }
                        Err(error) => {
                            failed = Some(error);
                            break;
                        }
                    }
                }
                Ok((bytes, failed))
            })
            .await?;
        let (bytes, failed) = result;
        let actual = format!("sha256:{}", digest_hex(&digest(&bytes)));
        if actual != layer.digest {
            bail!(
                "{shown}: the registry's bytes for its layer hash to {actual}, not the layer digest {} its manifest gives: refused, nothing cached",
                layer.digest
            );
        }
        if let Some(error) = failed {
            bail!("{shown}: downloading its layer: {error}");
        }
        Ok(bytes)
    }

    /// The signature artifact tagged `sha256-HEX` for the manifest
    /// `digest`, if there is one.
    async fn pull_signature(
        &self,
        reference: &OciReference,
        auth: &RegistryAuth,
        digest: &str,
    ) -> Result<Option<Vec<u8>>> {
        let tag = signature_tag(digest);
        let signature_ref = reference.at_tag(&tag);
        let found = self
            .with_client(reference, auth, |client| {
                let (auth, signature_ref) = (auth.clone(), signature_ref.clone());
                async move {
                    match client.pull_image_manifest(&signature_ref, &auth).await {
                        Ok(found) => Ok(Some(found)),
                        Err(OciDistributionError::ImageManifestNotFoundError(_)) => Ok(None),
                        Err(OciDistributionError::RegistryError { envelope, .. })
                            if envelope.errors.iter().any(|e| {
                                matches!(
                                    e.code,
                                    oci_client::errors::OciErrorCode::ManifestUnknown
                                        | oci_client::errors::OciErrorCode::NotFound
                                )
                            }) =>
                        {
                            Ok(None)
                        }
                        Err(error) => Err(explained(error, reference)),
                    }
                }
            })
            .await?;
        let Some((manifest, signature_digest)) = found else {
            return Ok(None);
        };
        let Some(layer) = manifest
            .layers
            .iter()
            .find(|layer| layer.media_type == SIGNATURE_MEDIA_TYPE)
        else {
            bail!(
                "{}: the artifact tagged {tag} ({signature_digest}) holds no {SIGNATURE_MEDIA_TYPE} layer",
                reference.shown()
            );
        };
        let at = reference.at_digest(&signature_digest);
        let bytes = self
            .download(
                reference,
                auth,
                &at,
                layer,
                MOST_SIGNATURE_BYTES,
                "the signature's limit",
            )
            .await?;
        Ok(Some(bytes))
    }

    /// Pushes the component `bytes` to `reference` (a tag) in the Wasm
    /// artifact layout, and its `signature` as the artifact tagged by the
    /// referrers tag scheme; the manifest's digest.
    pub async fn push(
        &self,
        reference: &OciReference,
        bytes: Vec<u8>,
        signature: Option<Vec<u8>>,
    ) -> Result<String> {
        if reference.digest().is_some() {
            bail!(
                "{}: push to a tag (oci://HOST/REPO:TAG): a digest is what the push makes",
                reference.shown()
            );
        }
        let auth = credentials_for(reference.registry())?;
        let (config, layer) = oci_wasm::WasmConfig::from_raw_component(bytes, None)
            .context("describing the component for the registry")?;
        let config = oci_wasm::ToConfig::to_config(&config)?;
        let layers = vec![layer];
        let mut manifest = OciImageManifest::build(&layers, &config, None);
        manifest.media_type = Some(oci_wasm::WASM_MANIFEST_MEDIA_TYPE.to_string());
        let digest = self
            .with_client(reference, &auth, |client| {
                let (auth, layers, config, manifest) = (
                    auth.clone(),
                    layers.clone(),
                    config.clone(),
                    manifest.clone(),
                );
                async move {
                    client
                        .push(reference.inner(), &layers, config, &auth, Some(manifest))
                        .await
                        .map_err(|error| explained(error, reference))
                        .with_context(|| format!("pushing to {}", reference.shown()))?;
                    client
                        .fetch_manifest_digest(reference.inner(), &auth)
                        .await
                        .map_err(|error| explained(error, reference))
                }
            })
            .await?;
        if let Some(signature) = signature {
            let tag = signature_tag(&digest);
            let target = reference.at_tag(&tag);
            let layers = vec![ImageLayer {
                data: signature.into(),
                media_type: SIGNATURE_MEDIA_TYPE.to_string(),
                annotations: None,
            }];
            let config = Config {
                data: b"{}".to_vec().into(),
                media_type: EMPTY_CONFIG_MEDIA_TYPE.to_string(),
                annotations: None,
            };
            let mut manifest = OciImageManifest::build(&layers, &config, None);
            manifest.artifact_type = Some(SIGNATURE_MEDIA_TYPE.to_string());
            self.with_client(reference, &auth, |client| {
                let (auth, layers, config, target, manifest) = (
                    auth.clone(),
                    layers.clone(),
                    config.clone(),
                    target.clone(),
                    manifest.clone(),
                );
                let tag = tag.clone();
                async move {
                    client
                        .push(&target, &layers, config, &auth, Some(manifest))
                        .await
                        .map_err(|error| explained(error, reference))
                        .with_context(|| format!("pushing the signature as the tag {tag}"))
                }
            })
            .await?;
        }
        Ok(digest)
    }
}

/// The referrers tag scheme's tag for the manifest `digest`.
pub fn signature_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// The one component layer of a plugin manifest.
fn component_layer(manifest: &OciImageManifest, reference: &OciReference) -> Result<OciDescriptor> {
    let wasm: Vec<&OciDescriptor> = manifest
        .layers
        .iter()
        .filter(|layer| layer.media_type == oci_wasm::WASM_LAYER_MEDIA_TYPE)
        .collect();
    match (wasm.as_slice(), manifest.layers.len()) {
        ([layer], 1) => Ok((*layer).clone()),
        _ => bail!(
            "{}: not a Wasm component artifact: a plugin's manifest has one layer, of type {} (this one has {}: {})",
            reference.shown(),
            oci_wasm::WASM_LAYER_MEDIA_TYPE,
            manifest.layers.len(),
            manifest
                .layers
                .iter()
                .map(|layer| layer.media_type.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A registry's answer, said for a person: what was refused, and what to
/// do about credentials.
fn explained(error: OciDistributionError, reference: &OciReference) -> anyhow::Error {
    let shown = reference.shown();
    let registry = reference.registry();
    let login = format!("log in with `docker login {registry}`, or point DOCKER_CONFIG at a config that holds the credentials");
    let codes = |wanted: &[oci_client::errors::OciErrorCode]| match &error {
        OciDistributionError::RegistryError { envelope, .. } => {
            envelope.errors.iter().any(|e| wanted.contains(&e.code))
        }
        _ => false,
    };
    use oci_client::errors::OciErrorCode as Code;
    let message = match &error {
        OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::ServerError {
            code: 401 | 403, ..
        } => {
            format!("{shown}: the registry {registry} refused the credentials (or their absence): {login}")
        }
        OciDistributionError::ImageManifestNotFoundError(_)
        | OciDistributionError::ServerError { code: 404, .. } => {
            format!("{shown}: the registry {registry} has no such manifest")
        }
        _ if codes(&[Code::ManifestUnknown, Code::NameUnknown, Code::NotFound]) => {
            format!("{shown}: the registry {registry} has no such manifest")
        }
        _ if codes(&[Code::Unauthorized, Code::Denied]) => {
            format!("{shown}: the registry {registry} refused access: {login}")
        }
        _ => shown.to_string(),
    };
    anyhow::Error::new(error).context(message)
}

/// Whether `error` is an answer of a registry (an OCI error, a refusal
/// of credentials), as opposed to one of some other server.
fn is_registry_answer(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<OciDistributionError>(),
            Some(
                OciDistributionError::RegistryError { .. }
                    | OciDistributionError::ImageManifestNotFoundError(_)
                    | OciDistributionError::UnauthorizedError { .. }
                    | OciDistributionError::AuthenticationFailure(_)
                    | OciDistributionError::ServerError {
                        code: 401 | 403 | 404,
                        ..
                    }
            )
        )
    })
}

/// Whether `error` is a failure to connect (refused, TLS handshake,
/// timeout), as opposed to an answer.
fn is_connect_failure(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<OciDistributionError>(),
            Some(OciDistributionError::RequestError(request)) if request.is_connect() || request.is_timeout()
        ) || cause
            .downcast_ref::<Unreachable>()
            .is_some()
    })
}

/// The innermost causes of `error`, for one line.
fn cause_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
    while let Some(now) = cause {
        let piece = now.to_string();
        if !text.contains(&piece) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&piece);
        }
        cause = now.source();
    }
    text
}
