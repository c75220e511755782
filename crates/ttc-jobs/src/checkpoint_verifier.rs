//! A PRM checkpoint as a search [`Verifier`], whatever reads it: a likelihood PRM through its
//! calibrated likelihood ([`crate::likelihood_verifier`]), every other format through its
//! head ([`crate::prm_verifier`]).

use ttc_engine::Engine;
use ttc_search::{Result, Verifier};

use crate::likelihood_verifier::LikelihoodVerifier;
use crate::prm_format::PrmFormat;
use crate::prm_verifier::PrmVerifier;

/// The PRM checkpoint in `dir` as a [`Verifier`] (`engine` holds its model, tokenizer and
/// prompt), as its `prm_format.json` says to read it.
pub fn verifier_for_checkpoint<'m>(
    engine: Engine<'m>,
    problems: Vec<String>,
    dir: &std::path::Path,
) -> Result<Box<dyn Verifier + 'm>> {
    let (format, calibration) = PrmFormat::load_file(dir)?;
    Ok(match calibration {
        Some(c) => Box::new(LikelihoodVerifier::new(engine, problems)?.with_calibration(c)),
        None => Box::new(PrmVerifier::with_format(engine, problems, format)?),
    })
}
