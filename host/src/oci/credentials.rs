//! Registry credentials, from where `docker login` keeps them: the Docker
//! config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
//! its `auths`, or the `docker-credential-*` helper its `credHelpers` or
//! `credsStore` names. Nothing configured means anonymous access. A
//! credential is never shown: messages name the registry and the source.
//!
//! Owns: [`credentials_for`]. Uses: the docker_credential crate.

use anyhow::{bail, Result};
use docker_credential::{CredentialRetrievalError, DockerCredential};
use oci_client::secrets::RegistryAuth;

/// The credentials the Docker config holds for `registry` (`HOST[:PORT]`).
pub fn credentials_for(registry: &str) -> Result<RegistryAuth> {
    match docker_credential::get_credential(registry) {
        Ok(DockerCredential::UsernamePassword(user, password)) => {
            Ok(RegistryAuth::Basic(user, password))
        }
        // An identity token is a refresh token, exchanged at the token
        // service as the password of the `<token>` user.
        Ok(DockerCredential::IdentityToken(token)) => {
            Ok(RegistryAuth::Basic("<token>".to_string(), token))
        }
        Err(
            CredentialRetrievalError::ConfigNotFound
            | CredentialRetrievalError::ConfigReadError
            | CredentialRetrievalError::NoCredentialConfigured,
        ) => Ok(RegistryAuth::Anonymous),
        Err(CredentialRetrievalError::HelperFailure { helper, stderr, .. }) => bail!(
            "the credentials for {registry}: the helper {helper} failed: {}",
            stderr.trim()
        ),
        Err(CredentialRetrievalError::HelperCommunicationError) => bail!(
            "the credentials for {registry}: the Docker config names a credential helper (credsStore or credHelpers) that could not be run: is its docker-credential-* program on PATH?"
        ),
        Err(other) => bail!("the credentials for {registry} in the Docker config: {other}"),
    }
}
