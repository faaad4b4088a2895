/** The dispatcher's service name: the `service` field of its logs and dimension of its metrics (alarms use it). */
export const SERVICE_NAME = 'dispatcher';
