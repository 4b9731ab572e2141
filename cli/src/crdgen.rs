//! `kiln crdgen`: writes the CustomResourceDefinitions of Kiln's resources
//! (rendered from the operator crate's types) as YAML files.

use std::path::PathBuf;

use crate::CliError;

/// Arguments of `kiln crdgen`.
#[derive(Debug, clap::Args)]
pub struct CrdgenArgs {
    /// Folder to write `<plural>.kiln.dev.yaml` files into (repeatable; the
    /// repository keeps copies in `crds` and `charts/kiln/crds`).
    #[arg(long, default_value = "crds")]
    out: Vec<PathBuf>,
}

/// Writes the CRDs and prints each path written.
pub async fn crdgen(args: CrdgenArgs) -> Result<(), CliError> {
    for dir in &args.out {
        let written =
            kiln_operator::crdgen::write(dir).map_err(|e| CliError::Failed(e.to_string()))?;
        for path in written {
            println!("{}", path.display());
        }
    }
    Ok(())
}
