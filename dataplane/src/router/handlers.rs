//! Handler reads and writes by path: `element.handler`, and the router's own handlers.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sluice_config::args::Args;
use sluice_config::Span;

use crate::element::HandlerError;

use super::Core;

impl Core {
    pub(super) fn find(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    pub(super) fn read_handler(&self, path: &str) -> Result<String, HandlerError> {
        let Some((elem, h)) = path.rsplit_once('.') else {
            return self.read_global(path);
        };
        let i = self
            .find(elem)
            .ok_or_else(|| HandlerError::NoSuchElement(elem.into()))?;
        match self.read_plain(i, h) {
            Err(HandlerError::NoSuchHandler(_)) => self
                .read_acting(i, h, "")
                .unwrap_or_else(|| Err(HandlerError::NoSuchHandler(path.into()))),
            r => r,
        }
    }

    /// A read handler with parameters: the element's own (`read_handler_with`); with no
    /// parameters, any read handler.
    pub(super) fn read_handler_with(
        &self,
        path: &str,
        params: &str,
    ) -> Result<String, HandlerError> {
        if params.trim().is_empty() {
            return self.read_handler(path);
        }
        let takes_none = || {
            Err(HandlerError::BadValue(format!(
                "read handler '{path}' does not take parameters"
            )))
        };
        let Some((elem, h)) = path.rsplit_once('.') else {
            return match self.read_global(path) {
                Ok(_) => takes_none(),
                Err(e) => Err(e),
            };
        };
        let i = self
            .find(elem)
            .ok_or_else(|| HandlerError::NoSuchElement(elem.into()))?;
        match self.read_acting(i, h, params) {
            Some(r) => r,
            None => match self.read_plain(i, h) {
                Ok(_) => takes_none(),
                Err(HandlerError::NoSuchHandler(_)) => {
                    Err(HandlerError::NoSuchHandler(path.into()))
                }
                Err(e) => Err(e),
            },
        }
    }

    /// Element `i`'s read handler `h` that takes parameters or acts; `None` when it has
    /// none of that name.
    fn read_acting(&self, i: usize, h: &str, params: &str) -> Option<Result<String, HandlerError>> {
        let r = match self.with_element(i, |e, ctx| e.read_handler_with(ctx, h, params)) {
            Some(r) => r?,
            None => Err(HandlerError::BadValue(format!(
                "{} is busy",
                self.nodes[i].name
            ))),
        };
        // From inside another element's call, the outermost drain delivers what was sent.
        if self.depth.get() == 0 {
            self.drain();
        }
        Some(r)
    }

    /// Element `i`'s plain read handler `h`, or one the router gives every element.
    fn read_plain(&self, i: usize, h: &str) -> Result<String, HandlerError> {
        let node = &self.nodes[i];
        let elem = node.name.as_str();
        let Ok(element) = node.element.try_borrow() else {
            // The element itself is reading (a Script's bare `config`): what the router
            // keeps for it can still be answered.
            return self
                .read_given(i, h)
                .ok_or_else(|| HandlerError::BadValue(format!("{elem} is busy")));
        };
        if let Some(v) = element.read_handler(h) {
            return Ok(v);
        }
        if let Some(v) = self.read_given(i, h) {
            return Ok(v);
        }
        Ok(match h {
            "handlers" => {
                let mut s = String::from("name\tr\nclass\tr\nconfig\tr\nports\tr\nhandlers\tr\n");
                if node.task {
                    s.push_str("scheduled\tr\n");
                }
                for hd in element.handlers() {
                    let mode = match (hd.read, hd.write) {
                        (true, true) => "rw",
                        (true, false) => "r",
                        _ => "w",
                    };
                    s.push_str(&format!("{}\t{}\n", hd.name, mode));
                }
                s
            }
            _ => return Err(HandlerError::NoSuchHandler(format!("{elem}.{h}"))),
        })
    }

    /// The read handlers the router answers for every element from what it keeps, without
    /// the element: `name`, `class`, `config`, `ports`, and `scheduled` for a task.
    fn read_given(&self, i: usize, h: &str) -> Option<String> {
        let node = &self.nodes[i];
        Some(match h {
            "name" => node.name.clone(),
            "class" => node.class.into(),
            "config" => node
                .reconfigured
                .borrow()
                .clone()
                .unwrap_or_else(|| node.config.clone()),
            "ports" => format!(
                "{} input{}\n{} output{}",
                node.in_pull.len(),
                if node.in_pull.len() == 1 { "" } else { "s" },
                node.out_pull.len(),
                if node.out_pull.len() == 1 { "" } else { "s" },
            ),
            // Click's task handler: whether the element's task is still scheduled.
            "scheduled" if node.task => self
                .tasks
                .iter()
                .find(|t| t.element == i)
                .map_or("false", |t| if t.done.get() { "false" } else { "true" })
                .into(),
            _ => return None,
        })
    }

    fn read_global(&self, h: &str) -> Result<String, HandlerError> {
        Ok(match h {
            "version" => env!("CARGO_PKG_VERSION").into(),
            "config" => self.configuration.clone(),
            "list" => {
                let mut s = format!("{}\n", self.nodes.len());
                for n in &self.nodes {
                    s.push_str(&n.name);
                    s.push('\n');
                }
                s
            }
            "classes" => {
                let mut names =
                    sluice_config::heap_sorted(self.nodes.iter().map(|n| n.class).collect());
                names.dedup();
                names.join("\n") + "\n"
            }
            "pool_free" => self.pool.stats().free.to_string(),
            "pool_capacity" => self.pool.stats().capacity.to_string(),
            "pool_in_use" => self.pool.stats().in_use().to_string(),
            "pool_high_water" => self.pool.stats().high_water.to_string(),
            "pool_alloc_failures" => self.pool.stats().alloc_failures.to_string(),
            "unrouted_drops" => self.unrouted_drops.get().to_string(),
            "tasks" => {
                let mut s = String::new();
                for t in &self.tasks {
                    s.push_str(&format!(
                        "{} runs {} busy {}{}{}\n",
                        self.nodes[t.element].name,
                        t.runs.get(),
                        t.busy.get(),
                        if self.gather { " gathered" } else { "" },
                        if t.done.get() { " done" } else { "" }
                    ));
                }
                s
            }
            _ => return Err(HandlerError::NoSuchHandler(h.into())),
        })
    }

    pub(super) fn write_handler(&self, path: &str, value: &str) -> Result<(), HandlerError> {
        let Some((elem, h)) = path.rsplit_once('.') else {
            return match path {
                "stop" => {
                    self.stopped.set(true);
                    Ok(())
                }
                // Installed by the platform between slices: the router cannot replace
                // itself while one of its elements runs.
                "hotconfig" if self.hotconfig => {
                    *self.hotconfig_request.borrow_mut() = Some(value.into());
                    Ok(())
                }
                _ => Err(HandlerError::NoSuchHandler(path.into())),
            };
        };
        let i = self
            .find(elem)
            .ok_or_else(|| HandlerError::NoSuchElement(elem.into()))?;
        let r = if h == "config" {
            self.reconfigure(i, path, value)
        } else {
            self.with_element(i, |e, ctx| e.write_handler(ctx, h, value))
                .unwrap_or_else(|| Err(HandlerError::BadValue(format!("{elem} is busy"))))
        };
        // From inside another element's call, the outermost drain delivers what was sent.
        if self.depth.get() == 0 {
            self.drain();
        }
        r
    }

    /// A write to element `i`'s `config` handler: the element takes the new arguments
    /// (see [`Element::reconfigure`](crate::Element::reconfigure)), and `config` reads
    /// them back from then on. Warnings go to the console under the call, as Click
    /// reports them.
    fn reconfigure(&self, i: usize, path: &str, value: &str) -> Result<(), HandlerError> {
        let node = &self.nodes[i];
        let names = &*self.names;
        let outcome = self.with_element(i, |e, ctx| {
            let mut args = Args::new(value, Span::default()).with_names(names);
            let warnings = e.reconfigure(ctx, &mut args);
            (warnings, args.finish())
        });
        match outcome {
            None => Err(HandlerError::BadValue(format!("{} is busy", node.name))),
            Some((None, _)) => Err(HandlerError::NoSuchHandler(path.into())),
            Some((Some(_), Err(errors))) => Err(HandlerError::BadValue(
                errors
                    .iter()
                    .map(|d| d.message.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
            )),
            Some((Some(warnings), Ok(()))) => {
                *node.reconfigured.borrow_mut() = Some(value.to_string());
                if !warnings.is_empty() {
                    let mut console = self.console.borrow_mut();
                    console.write_line(&format!("While calling '{path} {value}':"));
                    for w in warnings {
                        console.write_line(&format!("  warning: {w}"));
                    }
                }
                Ok(())
            }
        }
    }
}
