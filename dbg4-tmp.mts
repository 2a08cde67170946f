import { VirtMachine } from '/work/tsvmm-i22/src/machine/virt/virt.js';
import { plugDevices } from '/work/tsvmm-i22/src/machine/virt/devices.js';
const N = 20000;
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const names = ['loop', 'uart_read', 'uart_write', 'plic_read', 'clint_read', 'ecam_read', 'virtio_notify', 'unassigned_read'];
for (let r = 0; r < 3; r++) {
  const marks: number[] = [];
  const m = new VirtMachine({ ramSize: 128 << 20, smp: 1, logger: () => {}, serial: { attach() {}, write(b: number) { if (b === 0x50) marks.push(cpu()); }, acceptInput() {} } as any });
  plugDevices({ machine: m, drives: new Map() }, [{ driver: 'virtio-rng-device', props: {} }]);
  m.boot({ bios: process.argv[2]! });
  const start = cpu();
  await m.run();
  let prev = start; const per = marks.map((t) => { const v = ((t - prev) * 1000) / N; prev = t; return v; });
  console.log(names.map((n, i) => `${n}=${(i ? per[i]! - per[0]! : per[0]!).toFixed(2)}`).join(' '));
}
