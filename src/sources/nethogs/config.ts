// The nethogs source's own keys, under `nethogs.`.
import { key } from '../../config/keys.js';

export const config = {
  path: key({
    doc: 'The nethogs program (Debian package nethogs; written for 0.8.7).',
    format: String,
    default: 'nethogs',
    env: 'NETPROC_NETHOGS_PATH',
    arg: 'nethogs-path',
  }),
  devices: key({
    doc: 'Network devices nethogs captures on, such as eth0,ens5. Empty: every device that is up and running, loopback excepted.',
    format: 'device-list',
    default: [] as string[],
    env: 'NETPROC_NETHOGS_DEVICES',
    arg: 'nethogs-devices',
  }),
  loopback: key({
    doc: 'Also capture on loopback and on devices that are down (nethogs -a). On loopback nethogs counts every packet as sent by the process that sent it, and nothing as received.',
    format: Boolean,
    default: false,
    env: 'NETPROC_NETHOGS_LOOPBACK',
    arg: 'nethogs-loopback',
  }),
  udp: key({
    doc: 'Also capture UDP (nethogs -C). UDP of connected sockets is added to the owning process under tcp; UDP of unconnected sockets goes to [kernel] under udp.',
    format: Boolean,
    default: false,
    env: 'NETPROC_NETHOGS_UDP',
    arg: 'nethogs-udp',
  }),
  refresh: key({
    doc: 'How often nethogs prints its totals (nethogs -d), rounded up to whole seconds; keep it at or below the collection interval.',
    format: 'duration',
    default: '1s',
    env: 'NETPROC_NETHOGS_REFRESH',
    arg: 'nethogs-refresh',
  }),
  restartEvery: key({
    doc: 'Restart nethogs this often: its memory grows with every connection-second it has seen. A restart loses the traffic of its start-up, well under a second.',
    format: 'duration',
    default: '10m',
    env: 'NETPROC_NETHOGS_RESTART_EVERY',
    arg: 'nethogs-restart-every',
  }),
};
