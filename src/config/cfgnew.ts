/**
 * The configuration template `pigeon cfgnew` prints. Its layout (keys, order,
 * commented-out examples) is the one `nncp-cfgnew` 8.8.2 prints, so a config
 * made by either program diffs cleanly against the other's.
 */
import { base32Encode } from '../codec/base32.js';
import { generateAreaKeys, generateNodeKeys, generateYggdrasilKeys, type AreaKeys } from '../crypto/keys.js';
import { DEFAULT_LOG_PATH, DEFAULT_SENDMAIL_PATH, DEFAULT_SPOOL_PATH } from './load.js';
import type { SelfNode } from './types.js';

export interface NewConfigOptions {
  noComments: boolean;
  /** Print only an `areas` section with a fresh keypair for this area. */
  area?: string;
  /** Print only a fresh Yggdrasil (Ed25519) keypair, in hex. */
  yggdrasil?: boolean;
  /** Keys to use for -area / -yggdrasil instead of fresh ones (tests). */
  areaKeys?: AreaKeys;
  yggdrasilKeys?: { pub: Uint8Array; prv: Uint8Array };
}

/** What `cfgnew` prints for these options: full config, area section, or Yggdrasil keys. */
export function renderNewConfig(keys: SelfNode = generateNodeKeys(), opts: NewConfigOptions = { noComments: false }): string {
  if (opts.yggdrasil) return renderYggdrasilKeys(opts.yggdrasilKeys ?? generateYggdrasilKeys());
  if (opts.area !== undefined && opts.area !== '') return renderAreaConfig(opts.area, opts.areaKeys ?? generateAreaKeys(), opts);
  return opts.noComments ? renderPlain(keys) : renderCommented(keys);
}

function renderYggdrasilKeys(k: { pub: Uint8Array; prv: Uint8Array }): string {
  return `Public: ${Buffer.from(k.pub).toString('hex')}\nPrivate: ${Buffer.from(k.prv).toString('hex')}\n`;
}

/** An Hjson key: bare when it is a plain word, quoted otherwise. */
function hjsonKey(name: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(name) ? name : JSON.stringify(name);
}

function renderAreaConfig(name: string, k: AreaKeys, opts: { noComments: boolean }): string {
  const id = base32Encode(k.id);
  const pub = base32Encode(k.pub);
  const prv = base32Encode(k.prv);
  const key = hjsonKey(name);
  if (opts.noComments) {
    return [
      'areas: {',
      `  ${key}: {`,
      `    id: ${id}`,
      '    # KEEP AWAY keypair from the nodes you want only participate in multicast',
      `    pub: ${pub}`,
      `    prv: ${prv}`,
      '  }',
      '}',
      '',
    ].join('\n');
  }
  return [
    'areas: {',
    `  ${key}: {`,
    `    id: ${id}`,
    '',
    '    # KEEP AWAY keypair from the nodes you want only participate in multicast',
    `    pub: ${pub}`,
    `    prv: ${prv}`,
    '',
    '    # List of subscribers you should multicast area messages to',
    '    # subs: ["alice"]',
    '',
    '    # Allow incoming files (from the area) saving in that directory',
    `    # incoming: /home/areas/${name}/incoming`,
    '',
    '    # Allow incoming area commands execution',
    `    # exec: {sendmail: ["${DEFAULT_SENDMAIL_PATH}"]}`,
    '',
    "    # Allow unknown sender's message tossing (relaying will be made anyway)",
    '    # allow-unknown: true',
    '  }',
    '}',
    '',
  ].join('\n');
}

function b32(k: SelfNode) {
  return {
    id: k.idB32,
    exchpub: base32Encode(k.exchPub),
    exchprv: base32Encode(k.exchPrv),
    signpub: base32Encode(k.signPub),
    signprv: base32Encode(k.signPrv),
    noiseprv: base32Encode(k.noisePrv),
    noisepub: base32Encode(k.noisePub),
  };
}

function selfSection(k: ReturnType<typeof b32>): string[] {
  return [
    '  self: {',
    '    # DO NOT show anyone your private keys!!!',
    `    id: ${k.id}`,
    `    exchpub: ${k.exchpub}`,
    `    exchprv: ${k.exchprv}`,
    `    signpub: ${k.signpub}`,
    `    signprv: ${k.signprv}`,
    `    noiseprv: ${k.noiseprv}`,
    `    noisepub: ${k.noisepub}`,
    '  }',
  ];
}

function renderPlain(keys: SelfNode): string {
  const k = b32(keys);
  return [
    '{',
    `  spool: ${DEFAULT_SPOOL_PATH}`,
    `  log: ${DEFAULT_LOG_PATH}`,
    '',
    ...selfSection(k),
    '',
    '  neigh: {',
    '    self: {',
    `      id: ${k.id}`,
    `      exchpub: ${k.exchpub}`,
    `      signpub: ${k.signpub}`,
    `      noisepub: ${k.noisepub}`,
    `      exec: {sendmail: ["${DEFAULT_SENDMAIL_PATH}"]}`,
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The commented-out example neighbour of the full template. */
const EXAMPLE_NEIGHBOUR = [
  '# Example neighbour, most of fields are optional',
  '# alice: {',
  '#   id: XJZBK...65IJQ',
  '#   exchpub: MJACJ...FAI6A',
  '#   signpub: T4AFC...N2FRQ',
  '#   noisepub: UBM5K...VI42A',
  '#',
  '#   # He is allowed to send email',
  `#   # exec: {sendmail: ["${DEFAULT_SENDMAIL_PATH}"]}`,
  '#',
  '#   # Allow incoming files saving in that directory',
  '#   # incoming: "/home/alice/incoming"',
  '#',
  '#   # Transitional nodes path',
  '#   # via: ["bob", "eve"]',
  '#',
  '#   # Inactivity timeout when session with remote peer should be terminated',
  '#   # onlinedeadline: 1800',
  '#',
  '#   # Maximal online session lifetime',
  '#   # maxonlinetime: 3600',
  '#',
  '#   # If neither freq section, nor freq.path exist, then no freqing allowed',
  '#   # freq: {',
  '#   #   # Allow freqing from that directory',
  '#   #   path: "/home/bob/pub"',
  '#   #   # Send freqed files with chunks',
  '#   #   # chunked: 1024',
  '#   #   # Send freqed files with minumal chunk size',
  '#   #   # minsize: 2048',
  '#   #   # Maximal allowable freqing file size',
  '#   #   # maxsize: 4096',
  '#   # }',
  '#',
  '#   # Set maximal packets per second receive and transmit rates',
  '#   # rxrate: 10',
  '#   # txrate: 20',
  '#',
  '#   # Address aliases',
  '#   # addrs: {',
  '#   #   lan: "[fe80::1234%igb0]:5400"',
  '#   #   internet: alice.com:3389',
  '#   # }',
  '#',
  '#   # Calls configuration',
  '#   # calls: [',
  '#   #   {',
  '#   #     cron: "*/2 * * * *"',
  '#   #     onlinedeadline: 1800',
  '#   #     maxonlinetime: 1750',
  '#   #     nice: PRIORITY+10',
  '#   #     rxrate: 10',
  '#   #     txrate: 20',
  '#   #     xx: rx',
  '#   #     addr: lan',
  '#   #     when-tx-exists: true',
  '#   #     nock: true',
  '#   #     mcd-ignore: true',
  '#   #',
  '#   #     autotoss: false',
  '#   #     autotoss-doseen: true',
  '#   #     autotoss-nofile: true',
  '#   #     autotoss-nofreq: true',
  '#   #     autotoss-noexec: true',
  '#   #     autotoss-notrns: true',
  '#   #   }',
  '#   # ]',
  '# }',
];

/** Commented-out general options, notification and Yggdrasil examples. */
const GENERAL_HEAD = [
  '  # Enforce specified umask usage',
  '  # umask: "022"',
  '  # Omit progress showing by default',
  '  # noprogress: true',
  '  # Do not use hdr/ files',
  '  # nohdr: true',
  '',
  '  # MultiCast Discovery:',
  '  # List of interface regular expressions where to listen for MCD announcements',
  '  mcd-listen: [".*"]',
  '  # Interfaces regular expressions and intervals (in seconds) where to send',
  '  # MCD announcements',
  '  mcd-send: {.*: 10}',
  '',
  '  # Yggdrasil related aliases:',
  '  # yggdrasil-aliases: {',
  '  #   myprv: 60bb...27aa',
  '  #   bob-pub: 98de...ac19d',
  '  #   alice-endpoint: tcp://example.com:1234?key=689c...13fb',
  '  #   default-endpoints: tcp://[::1]:2345,alice-endpoint',
  '  # }',
  '',
  '  # Enable notification email sending',
  '  # notify: {',
  '  #   file: {',
  '  #     from: nncp@localhost',
  '  #     to: user+file@example.com',
  '  #   }',
  '  #   freq: {',
  '  #     from: nncp@localhost',
  '  #     to: user+freq@example.com',
  '  #   }',
  '  #   # Send some exec commands execution notifications',
  '  #   exec: {',
  '  #     # bob neighbour\'s "somehandle" notification',
  '  #     bob.somehandle: {',
  '  #       from: nncp+bob@localhost',
  '  #       to: user+somehandle@example.com',
  '  #     }',
  '  #     # Any neighboor\'s "anotherhandle"',
  '  #     *.anotherhandle: {',
  '  #       from: nncp@localhost',
  '  #       to: user+anotherhandle@example.com',
  '  #     }',
  '  #   }',
  '  # }',
];

function renderCommented(keys: SelfNode): string {
  const k = b32(keys);
  return [
    '{',
    '  # Path to encrypted packets spool directory',
    `  spool: ${DEFAULT_SPOOL_PATH}`,
    '  # Path to log file',
    `  log: ${DEFAULT_LOG_PATH}`,
    ...GENERAL_HEAD,
    '',
    ...selfSection(k),
    '',
    '  neigh: {',
    '    self: {',
    '      # You should give public keys below to your neighbours',
    `      id: ${k.id}`,
    `      exchpub: ${k.exchpub}`,
    `      signpub: ${k.signpub}`,
    `      noisepub: ${k.noisepub}`,
    '',
    '      exec: {',
    "        # Default self's sendmail command is used for email notifications sending",
    `        sendmail: ["${DEFAULT_SENDMAIL_PATH}"]`,
    '      }',
    '    }',
    '',
    ...EXAMPLE_NEIGHBOUR.map((l) => '    ' + l),
    '  }',
    '}',
    '',
  ].join('\n');
}
