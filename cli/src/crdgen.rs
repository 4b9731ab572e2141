//! `kiln crdgen`: writes the CustomResourceDefinitions of Kiln's resources
//! (rendered from the operator crate's types) as YAML files.

use std::path::PathBuf;

use crate::CliError;

/// Arguments of `kiln crdgen`.
#[derive(Debug, clap::Args)]
pub struct CrdgenArgs {
    /// Folder to write `<plural>.kiln.dev.yaml` files into (repeatable; the
    /// repository keeps them in `crds`).
    #[arg(long, default_value = "crds")]
    out: Vec<PathBuf>,
    /// Folder to write the Helm chart's CRD templates into (the repository
    /// keeps them in `charts/kiln/templates/crds`).
    #[arg(long)]
    chart: Option<PathBuf>,
}

/// Writes the CRDs and prints each path written.
pub async fn crdgen(args: CrdgenArgs) -> Result<(), CliError> {
    let mut written = Vec::new();
    for dir in &args.out {
        written.extend(
            kiln_operator::crdgen::write(dir).map_err(|e| CliError::Failed(e.to_string()))?,
        );
    }
    if let Some(dir) = &args.chart {
        written.extend(
            kiln_operator::crdgen::write_chart(dir).map_err(|e| CliError::Failed(e.to_string()))?,
        );
    }
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}
