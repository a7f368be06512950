//! Device interrupt handlers, by IOAPIC pin (Linux's `request_irq`).

use spin::Mutex;

use super::traps::NR_IRQS;

pub type Handler = fn(pin: u32);

struct Action {
    handler: Handler,
    name: &'static str,
    count: u64,
}

static ACTIONS: Mutex<[Option<Action>; NR_IRQS as usize]> =
    Mutex::new([const { None }; NR_IRQS as usize]);

/// Install `handler` for `pin` and route the pin to the boot CPU.
pub fn request_irq(pin: u32, name: &'static str, handler: Handler) -> bool {
    if pin >= NR_IRQS as u32 || pin >= super::ioapic::pins() {
        return false;
    }
    super::cpu::without_interrupts(|| {
        ACTIONS.lock()[pin as usize] = Some(Action {
            handler,
            name,
            count: 0,
        });
    });
    super::ioapic::route(pin, super::percpu::this_cpu().apic_id);
    true
}

pub fn handle(pin: u32) {
    let handler = {
        let mut actions = ACTIONS.lock();
        match actions.get_mut(pin as usize).and_then(|a| a.as_mut()) {
            Some(action) => {
                action.count += 1;
                action.handler
            }
            None => return,
        }
    };
    handler(pin);
}

/// (pin, name, count) for every installed handler, for /proc/interrupts.
pub fn for_each(mut f: impl FnMut(u32, &'static str, u64)) {
    let actions = ACTIONS.lock();
    for (pin, action) in actions.iter().enumerate() {
        if let Some(a) = action {
            f(pin as u32, a.name, a.count);
        }
    }
}
