import { VirtMachine } from '/work/tsvmm-i22/src/machine/virt/virt.js';
import { plugDevices } from '/work/tsvmm-i22/src/machine/virt/devices.js';
const N = Number(process.argv[2] ?? 20000);
const marks: number[] = [];
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const m = new VirtMachine({ ramSize: 128 << 20, smp: 1, serial: { attach() {}, write(b: number) { if (b === 0x50) marks.push(cpu()); }, acceptInput() {} } as any });
plugDevices({ machine: m, drives: new Map() }, [{ driver: 'virtio-rng-device', props: {} }]);
m.boot({ bios: process.argv[3] ?? '/tmp/iob/g2.bin' });
const start = cpu();
await m.run();
const names = ['loop', 'uart_read', 'uart_write', 'plic_read', 'clint_read', 'ecam_read', 'virtio_notify', 'unassigned_read'];
let prev = start;
const loopUs = ((marks[0]! - start) * 1000) / N;
for (let i = 0; i < marks.length; i++) { const us = ((marks[i]! - prev) * 1000) / N; console.log(names[i], us.toFixed(2), 'us cpu/iter', i ? (us - loopUs).toFixed(2) : ''); prev = marks[i]!; }
