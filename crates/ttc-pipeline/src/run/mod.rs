//! The framework every stage runs in (DESIGN §1): what a stage declares ([`stage`]), where a
//! run's files live ([`layout`]), how the runner decides freshness and records it
//! ([`runner`], [`record`]), one writer per run ([`lock`]), resumable parts ([`parts`]),
//! progress ([`progress`]), the tables stages write ([`table_io`]), stages side by side
//! ([`schedule`]), as Slurm jobs ([`submit`]), the times they took ([`timings`]) and the time
//! they still take ([`time_ahead`], [`estimates`], [`cost_model`]). It names no stage.

pub mod cost_model;
pub mod estimates;
pub mod layout;
pub mod lock;
pub mod parts;
pub mod progress;
pub mod record;
pub mod runner;
pub mod schedule;
pub mod stage;
pub mod submit;
pub mod table_io;
pub mod time_ahead;
pub mod timings;
